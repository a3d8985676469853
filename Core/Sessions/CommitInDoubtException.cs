namespace Multicast.Sessions;

/// <summary>
/// The commit's outcome is unknown: the node arbitrating it changed (it died, paused or was cut off) after the commit
/// was sent, and the next one could not say in time whether it was applied. This is the one ambiguous answer; a client
/// must read the session before retrying. Counted, and rare: the store asks the new arbiter until its deadline.
/// </summary>
public sealed class CommitInDoubtException : Exception
{
    /// <summary>Creates the exception.</summary>
    public CommitInDoubtException(string sessionId, string message) : base(message) => SessionId = sessionId;

    /// <summary>Creates the exception.</summary>
    public CommitInDoubtException() : this(string.Empty, "The commit's outcome is unknown.") { }

    /// <summary>Creates the exception.</summary>
    public CommitInDoubtException(string message) : this(string.Empty, message) { }

    /// <summary>Creates the exception.</summary>
    public CommitInDoubtException(string message, Exception innerException) : base(message, innerException) => SessionId = string.Empty;

    /// <summary>The session.</summary>
    public string SessionId { get; }
}
