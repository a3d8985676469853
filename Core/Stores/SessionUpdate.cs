namespace Multicast.Stores;

/// <summary>
/// One change to one session as it travels between nodes: only the attributes that changed (set and
/// removed keys), or the whole session (<see cref="IsFull"/>), with the version it applies to.
/// </summary>
public sealed class SessionUpdate
{
    /// <summary>The session.</summary>
    public required string SessionId { get; init; }

    /// <summary>The version the change was made from; a delta applies only to that version.</summary>
    public long BaseVersion { get; init; }

    /// <summary>The version after the change.</summary>
    public long Version { get; init; }

    /// <summary>The fencing token the change was made under (0 without a lock).</summary>
    public long Token { get; init; }

    /// <summary>The node that made the change.</summary>
    public required string Writer { get; init; }

    /// <summary>The whole session rather than a delta: replaces what the receiver holds.</summary>
    public bool IsFull { get; init; }

    /// <summary>The session was removed (invalidated or expired).</summary>
    public bool IsRemoval { get; init; }

    /// <summary>Set or changed attributes.</summary>
    public IReadOnlyDictionary<string, byte[]> Set { get; init; } = new Dictionary<string, byte[]>();

    /// <summary>Removed attributes.</summary>
    public IReadOnlyCollection<string> Removed { get; init; } = [];

    /// <summary>When the session was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>The last access known to the writer.</summary>
    public DateTimeOffset LastAccessedAt { get; init; }

    /// <summary>The session's idle timeout.</summary>
    public TimeSpan IdleTimeout { get; init; }
}
