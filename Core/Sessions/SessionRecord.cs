using System.Text;

namespace Multicast.Sessions;

/// <summary>
/// A session's committed state. Immutable once published to the session table: a commit builds a new
/// record, so readers on other threads (requests, the receive thread) never see a half-applied change.
/// </summary>
internal sealed class SessionRecord
{
    public static readonly IReadOnlyDictionary<string, byte[]> NoAttributes = new Dictionary<string, byte[]>(0, StringComparer.Ordinal);

    public required string Id { get; init; }
    public IReadOnlyDictionary<string, byte[]> Attributes { get; init; } = NoAttributes;
    /// <summary>Increases by one with every committed write.</summary>
    public long Version { get; init; }
    /// <summary>The fencing token the last write was made under (0 when written without a lock).</summary>
    public long Token { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset LastAccessedAt { get; init; }
    public TimeSpan IdleTimeout { get; init; }
    public string LastWriter { get; init; } = string.Empty;
    public int Size { get; init; }

    public DateTimeOffset ExpiresAt => LastAccessedAt + IdleTimeout;

    public bool IsExpired(DateTimeOffset now) => now >= ExpiresAt;

    public SessionRecord With(DateTimeOffset lastAccessedAt) => new()
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
    };

    public static int SizeOf(string key, byte[] value) => Encoding.UTF8.GetByteCount(key) + value.Length;

    public static int SizeOf(IReadOnlyDictionary<string, byte[]> attributes)
    {
        var size = 0;
        foreach (var (k, v) in attributes)
            size += SizeOf(k, v);
        return size;
    }
}
