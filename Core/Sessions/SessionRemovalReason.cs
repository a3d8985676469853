namespace Multicast.Sessions;

/// <summary>Why a session leaves the cluster.</summary>
public enum SessionRemovalReason
{
    /// <summary>The application invalidated it.</summary>
    Invalidated = 0,

    /// <summary>It was idle for longer than its timeout.</summary>
    Expired = 1,
}
