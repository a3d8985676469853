namespace Multicast.Sessions;

/// <summary>
/// A commit would make a session larger than <see cref="SessionOptions.MaxSessionBytes"/>.
/// The commit is refused as a whole: the stored session keeps its previous committed state.
/// </summary>
public sealed class SessionTooLargeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SessionTooLargeException(string sessionId, long size, long limit)
        : base($"Session '{sessionId}' would be {size} bytes, more than the configured maximum of {limit} bytes (SessionOptions.MaxSessionBytes); the change was not stored.")
    {
        SessionId = sessionId;
        Size = size;
        Limit = limit;
    }

    /// <summary>Creates the exception.</summary>
    public SessionTooLargeException() : this(string.Empty, 0, 0) { }

    /// <summary>Creates the exception.</summary>
    public SessionTooLargeException(string message) : base(message) { SessionId = string.Empty; }

    /// <summary>Creates the exception.</summary>
    public SessionTooLargeException(string message, Exception innerException) : base(message, innerException) { SessionId = string.Empty; }

    /// <summary>The session whose commit was refused.</summary>
    public string SessionId { get; }

    /// <summary>The size the session would have had, in bytes.</summary>
    public long Size { get; }

    /// <summary>The configured maximum, in bytes.</summary>
    public long Limit { get; }
}
