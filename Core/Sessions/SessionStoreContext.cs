namespace Multicast.Sessions;

/// <summary>
/// What a <see cref="SessionManager"/> hands its <see cref="IClusterStore"/> at start: the table the store keeps up to
/// date, the session options, the clock, and where the store reports what happened to sessions.
/// </summary>
public sealed class SessionStoreContext
{
    private readonly Action<SessionEventArgs>? _received;
    private readonly Action<SessionEventArgs, SessionRemovalReason>? _removed;

    /// <summary>Creates a context.</summary>
    /// <param name="table">The node's session table; the store writes it.</param>
    /// <param name="options">The session options (sizes, timeouts).</param>
    /// <param name="time">The clock for access times, leases and expiry.</param>
    /// <param name="received">Called when an update from another node was applied here.</param>
    /// <param name="removed">Called when a session was removed here by another node's decision or by expiry.</param>
    public SessionStoreContext(SessionTable table, SessionOptions options, TimeProvider time,
        Action<SessionEventArgs>? received = null, Action<SessionEventArgs, SessionRemovalReason>? removed = null)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        Table = table;
        Options = options;
        Time = time;
        _received = received;
        _removed = removed;
    }

    /// <summary>The node's committed sessions; the store writes it.</summary>
    public SessionTable Table { get; }

    /// <summary>The session options.</summary>
    public SessionOptions Options { get; }

    /// <summary>The clock.</summary>
    public TimeProvider Time { get; }

    /// <summary>Reports an update from another node, applied here (on the store's receive thread: handlers must not block).</summary>
    public void OnReceived(SessionEventArgs e) => _received?.Invoke(e);

    /// <summary>Reports a session removed here: invalidated by another node, or expired.</summary>
    public void OnRemoved(SessionEventArgs e, SessionRemovalReason reason) => _removed?.Invoke(e, reason);
}
