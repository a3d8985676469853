using System.Collections.Concurrent;

namespace Multicast.Bench.SessionCost;

/// <summary>
/// The floor: a plain in-process dictionary with a per-session async lock (what a single node without
/// replication needs to serialize a session's requests); commit replaces the attribute map.
/// </summary>
internal sealed class DictionaryBackend : ISessionBackend
{
    private readonly ConcurrentDictionary<string, Entry> _sessions = new(StringComparer.Ordinal);

    public string Name => "dictionary";

    public Task<string> CreateAsync(byte[] payload, CancellationToken cancellationToken)
    {
        var id = Guid.NewGuid().ToString("N");
        _sessions[id] = new Entry(new Dictionary<string, byte[]>(StringComparer.Ordinal) { ["data"] = payload, ["count"] = SessionCodec.CountValue(0) });
        return Task.FromResult(id);
    }

    public async Task<int> IncrementAsync(string id, CancellationToken cancellationToken)
    {
        if (!_sessions.TryGetValue(id, out var entry))
            throw new InvalidOperationException($"no session {id}");
        await entry.Lock.WaitAsync(cancellationToken);
        try
        {
            var next = SessionCodec.ReadCount(entry.Attributes) + 1;
            var copy = new Dictionary<string, byte[]>(entry.Attributes, StringComparer.Ordinal) { ["count"] = SessionCodec.CountValue(next) };
            entry.Attributes = copy;
            entry.Version++;
            return next;
        }
        finally
        {
            entry.Lock.Release();
        }
    }

    public Task<int> ReadAsync(string id, CancellationToken cancellationToken) =>
        Task.FromResult(_sessions.TryGetValue(id, out var entry) ? SessionCodec.ReadCount(entry.Attributes) : throw new InvalidOperationException($"no session {id}"));

    private sealed class Entry(Dictionary<string, byte[]> attributes)
    {
        public SemaphoreSlim Lock { get; } = new(1, 1);

        public Dictionary<string, byte[]> Attributes { get; set; } = attributes;

        public long Version { get; set; }
    }
}
