namespace Multicast.Tests.PublicStore;

/// <summary>The connection dropped after the request was sent: the server may or may not have applied it.</summary>
internal sealed class SessionServerReplyLostException : Exception
{
    public SessionServerReplyLostException() : base("The connection to the session server dropped before its answer arrived.") { }

    public SessionServerReplyLostException(string message) : base(message) { }

    public SessionServerReplyLostException(string message, Exception innerException) : base(message, innerException) { }
}
