using System.Text;

namespace Multicast.Sessions;

/// <summary>
/// A session's committed state, as a store holds it in the <see cref="SessionTable"/>. Immutable: a commit builds a new
/// state (<see cref="Apply"/>), so readers on other threads (requests, a receive thread) never see a half-applied change.
/// </summary>
/// <remarks>Do not modify the <see cref="Attributes"/> dictionary or its arrays after the state is built.</remarks>
public sealed class SessionState
{
    private static readonly IReadOnlyDictionary<string, byte[]> NoAttributes = new Dictionary<string, byte[]>(0, StringComparer.Ordinal);
    private int _size = -1;
    private Task<Session?>? _readOnlyFind;
    private long _recordedAccessMs;

    /// <summary>The session id.</summary>
    public required string Id { get; init; }

    /// <summary>The attributes, by key (ordinal).</summary>
    public IReadOnlyDictionary<string, byte[]> Attributes { get; init; } = NoAttributes;

    /// <summary>Increases by one with every committed write; 0 before the first commit.</summary>
    public long Version { get; init; }

    /// <summary>The fencing token the last write was made under (0 when written without a lock).</summary>
    public long Token { get; init; }

    /// <summary>When the session was created.</summary>
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>When a request last used the session, as far as this node knows.</summary>
    public DateTimeOffset LastAccessedAt { get; init; }

    /// <summary>How long the session lives without a request.</summary>
    public TimeSpan IdleTimeout { get; init; } = SessionOptions.DefaultIdleTimeout;

    /// <summary>The node that committed the last write.</summary>
    public string LastWriter { get; init; } = string.Empty;

    /// <summary>Keys (UTF-8) plus values, in bytes: what <see cref="SessionOptions.MaxSessionBytes"/> limits.</summary>
    public int Size
    {
        get => _size >= 0 ? _size : _size = SizeOf(Attributes);
        init => _size = value;
    }

    /// <summary>The primary epoch in which the built-in stores committed this version (orders copies whose versions tie).</summary>
    internal long Epoch { get; init; }

    /// <summary>The built-in stores' ids of the last commits, newest last (answers "was this commit applied?").</summary>
    internal ulong[] RecentCommits { get; init; } = [];

    /// <summary>A read-only find's answer for this state: a completed task of the one read-only view that every request
    /// reading this version shares, made at the first such read (a state never changes, so neither does its view).</summary>
    internal Task<Session?> ReadOnlyFind
    {
        get
        {
            var found = Volatile.Read(ref _readOnlyFind);
            if (found is not null)
                return found;
            // Two first readers may race: both build one, one is kept; either answers the same.
            Interlocked.CompareExchange(ref _readOnlyFind, Task.FromResult<Session?>(Session.SharedReadOnly(this)), null);
            return _readOnlyFind;
        }
    }

    /// <summary>An access time (Unix ms) that the built-in stores have recorded on this node for a read of this state, or
    /// 0: a cache that never runs ahead of their access-time record, so a read in a millisecond already recorded skips
    /// that record's look-up. A racing write may move it back; the next read then looks up again.</summary>
    internal long RecordedAccessMs
    {
        get => Volatile.Read(ref _recordedAccessMs);
        set => Volatile.Write(ref _recordedAccessMs, value);
    }

    /// <summary>When the session expires unless a request uses it first.</summary>
    public DateTimeOffset ExpiresAt => LastAccessedAt + IdleTimeout;

    /// <summary>Whether the session has expired at <paramref name="now"/>.</summary>
    public bool IsExpired(DateTimeOffset now) => now >= ExpiresAt;

    /// <summary>A new, empty session (version 0), as a store creates one.</summary>
    public static SessionState Create(string id, DateTimeOffset now, TimeSpan idleTimeout, string writer)
    {
        ArgumentException.ThrowIfNullOrEmpty(id);
        ArgumentNullException.ThrowIfNull(writer);
        return new SessionState { Id = id, CreatedAt = now, LastAccessedAt = now, IdleTimeout = idleTimeout, LastWriter = writer, Size = 0 };
    }

    /// <summary>The state after a request's <paramref name="changes"/>, committed as <paramref name="version"/>.</summary>
    /// <param name="changes">What the request changed (<see cref="Session.Changes"/>).</param>
    /// <param name="version">The new version (one more than this state's, for a store that commits in order).</param>
    /// <param name="writer">The node that commits.</param>
    /// <param name="token">The fencing token the change was made under (0 without a lock).</param>
    /// <param name="lastAccessedAt">The access time to record.</param>
    public SessionState Apply(SessionChanges changes, long version, string writer, long token, DateTimeOffset lastAccessedAt)
    {
        ArgumentNullException.ThrowIfNull(changes);
        ArgumentNullException.ThrowIfNull(writer);
        var attributes = new Dictionary<string, byte[]>(Attributes.Count + changes.Set.Count, StringComparer.Ordinal);
        foreach (var (k, v) in Attributes)
            attributes[k] = v;
        foreach (var k in changes.Removed)
            attributes.Remove(k);
        foreach (var (k, v) in changes.Set)
            attributes[k] = v;
        return new SessionState
        {
            Id = Id,
            Attributes = attributes,
            Version = version,
            Token = Math.Max(token, Token),
            CreatedAt = CreatedAt,
            LastAccessedAt = lastAccessedAt > LastAccessedAt ? lastAccessedAt : LastAccessedAt,
            IdleTimeout = changes.IdleTimeout ?? IdleTimeout,
            LastWriter = writer,
        };
    }

    /// <summary>This state with a later access time (no other change).</summary>
    public SessionState WithLastAccess(DateTimeOffset lastAccessedAt) => new()
    {
        Id = Id,
        Attributes = Attributes,
        Version = Version,
        Token = Token,
        CreatedAt = CreatedAt,
        LastAccessedAt = lastAccessedAt,
        IdleTimeout = IdleTimeout,
        LastWriter = LastWriter,
        Size = Size,
        Epoch = Epoch,
        RecentCommits = RecentCommits,
    };

    /// <summary>The size one attribute counts for.</summary>
    public static int SizeOf(string key, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        return Encoding.UTF8.GetByteCount(key) + value.Length;
    }

    /// <summary>The size a set of attributes counts for.</summary>
    public static int SizeOf(IReadOnlyDictionary<string, byte[]> attributes)
    {
        ArgumentNullException.ThrowIfNull(attributes);
        var size = 0;
        foreach (var (k, v) in attributes)
            size += SizeOf(k, v);
        return size;
    }
}
