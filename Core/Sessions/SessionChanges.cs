namespace Multicast.Sessions;

/// <summary>What one request changed in a session: the keys it set and removed, and a new idle timeout. Only this
/// travels when the session is committed.</summary>
public sealed class SessionChanges
{
    /// <summary>Creates the changes a store received from elsewhere (a peer's or a server's copy of a request's changes),
    /// to apply them with <see cref="SessionState.Apply"/>.</summary>
    /// <param name="set">Set or replaced attributes, by key (ordinal).</param>
    /// <param name="removed">Removed keys.</param>
    /// <param name="idleTimeout">The new idle timeout, when the request changed it.</param>
    public SessionChanges(IReadOnlyDictionary<string, byte[]> set, IReadOnlyCollection<string> removed, TimeSpan? idleTimeout = null)
        : this(set, removed, () => idleTimeout)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(removed);
    }

    internal SessionChanges(IReadOnlyDictionary<string, byte[]> set, IReadOnlyCollection<string> removed, Func<TimeSpan?> idleTimeout)
    {
        Set = set;
        Removed = removed;
        _idleTimeout = idleTimeout;
    }

    private readonly Func<TimeSpan?> _idleTimeout;

    /// <summary>Set or replaced attributes.</summary>
    public IReadOnlyDictionary<string, byte[]> Set { get; }

    /// <summary>Removed attributes (keys the committed state holds).</summary>
    public IReadOnlyCollection<string> Removed { get; }

    /// <summary>The new idle timeout, when the request changed it.</summary>
    public TimeSpan? IdleTimeout => _idleTimeout();

    /// <summary>Whether the request changed nothing.</summary>
    public bool IsEmpty => Set.Count == 0 && Removed.Count == 0 && IdleTimeout is null;
}
