namespace Multicast.Sessions;

/// <summary>How a request uses its session; decides whether a lock is taken.</summary>
public enum SessionAccess
{
    /// <summary>Read-write. The session is locked for this instance until the request ends. The default.</summary>
    Exclusive = 0,

    /// <summary>Read the latest committed state without a lock; changes are refused.</summary>
    ReadOnly = 1,

    /// <summary>The request does not use the session: nothing is loaded and nothing is locked.</summary>
    None = 2,
}
