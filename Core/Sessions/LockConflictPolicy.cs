namespace Multicast.Sessions;

/// <summary>What an exclusive find does when another instance holds the session's lock.</summary>
public enum LockConflictPolicy
{
    /// <summary>Wait for the release (woken by it, never by polling) up to the store's wait timeout (<c>Cluster:LockWaitTimeout</c> for the built-in stores). The default.</summary>
    Wait = 0,

    /// <summary>Fail at once with a <see cref="SessionLockedException"/> naming the holder.</summary>
    Fail = 1,

    /// <summary>Fail at once with a <see cref="SessionLockedException"/> carrying the holder's public address, so a host can redirect the client there.</summary>
    Redirect = 2,
}
