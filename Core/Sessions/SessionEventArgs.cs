namespace Multicast.Sessions;

/// <summary>What happened to a session, for <see cref="SessionManager"/>'s events.</summary>
public sealed class SessionEventArgs : EventArgs
{
    /// <summary>Creates the event arguments.</summary>
    public SessionEventArgs(string sessionId, long version, string? node)
    {
        SessionId = sessionId;
        Version = version;
        Node = node;
    }

    /// <summary>The session.</summary>
    public string SessionId { get; }

    /// <summary>Its committed version after the event.</summary>
    public long Version { get; }

    /// <summary>The node that caused the event (the writer, for a received update).</summary>
    public string? Node { get; }
}
