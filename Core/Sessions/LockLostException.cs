namespace Multicast.Sessions;

/// <summary>A commit was made under a fencing token that is no longer current (the lease ended and
/// another holder took the lock). The commit changed nothing.</summary>
public sealed class LockLostException : Exception
{
    /// <summary>Creates the exception.</summary>
    public LockLostException(string sessionId, long token, long currentToken)
        : base($"The lock on session '{sessionId}' was lost: the commit carries fencing token {token} but token {currentToken} has been granted since; nothing was changed.")
    {
        SessionId = sessionId;
        Token = token;
        CurrentToken = currentToken;
    }

    /// <summary>Creates the exception.</summary>
    public LockLostException() : this(string.Empty, 0, 0) { }

    /// <summary>Creates the exception.</summary>
    public LockLostException(string message) : base(message) { SessionId = string.Empty; }

    /// <summary>Creates the exception.</summary>
    public LockLostException(string message, Exception innerException) : base(message, innerException) { SessionId = string.Empty; }

    /// <summary>The session.</summary>
    public string SessionId { get; }

    /// <summary>The stale token the commit carried.</summary>
    public long Token { get; }

    /// <summary>The newer token known to the cluster.</summary>
    public long CurrentToken { get; }
}
