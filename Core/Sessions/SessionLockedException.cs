namespace Multicast.Sessions;

/// <summary>Another instance holds the session's lock.</summary>
public sealed class SessionLockedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SessionLockedException(string sessionId, string holder, string holderAddress, LockConflictPolicy policy, string? detail = null)
        : base($"Session '{sessionId}' is locked by node '{holder}'{(holderAddress.Length > 0 ? $" at {holderAddress}" : string.Empty)}{(detail is null ? string.Empty : $": {detail}")}.")
    {
        SessionId = sessionId;
        Holder = holder;
        HolderAddress = holderAddress;
        Policy = policy;
    }

    /// <summary>Creates the exception.</summary>
    public SessionLockedException() : this(string.Empty, string.Empty, string.Empty, LockConflictPolicy.Fail) { }

    /// <summary>Creates the exception.</summary>
    public SessionLockedException(string message) : base(message) { SessionId = Holder = HolderAddress = string.Empty; }

    /// <summary>Creates the exception.</summary>
    public SessionLockedException(string message, Exception innerException) : base(message, innerException) { SessionId = Holder = HolderAddress = string.Empty; }

    /// <summary>The locked session.</summary>
    public string SessionId { get; }

    /// <summary>The node id of the holder.</summary>
    public string Holder { get; }

    /// <summary>The holder's public address (for <see cref="LockConflictPolicy.Redirect"/>); empty when unknown.</summary>
    public string HolderAddress { get; }

    /// <summary>The policy that was applied.</summary>
    public LockConflictPolicy Policy { get; }
}
