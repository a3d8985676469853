namespace Multicast.Tests.PublicStore;

/// <summary>The server could not be reached; the call did nothing (a connection refused before the request was sent).</summary>
internal sealed class SessionServerUnavailableException : Exception
{
    public SessionServerUnavailableException() : base("The session server is unavailable.") { }

    public SessionServerUnavailableException(string message) : base(message) { }

    public SessionServerUnavailableException(string message, Exception innerException) : base(message, innerException) { }
}
