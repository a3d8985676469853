using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

/// <summary>
/// Puts committed changes into this node's session table in each session's version order: a delta whose base has not
/// arrived waits for it, a change older than what the table holds is ignored, and a removal leaves a tombstone that
/// keeps every older copy out until the session would have expired anyway. Keeps the disk copy in step. Not
/// thread-safe: the store calls it under its gate.
/// </summary>
/// <remarks>Copies are ordered by (epoch, version): the epoch of the primary partition that committed a version breaks
/// ties between versions committed on different sides of a partition, the later primary winning.</remarks>
internal sealed class SessionApplier(SessionTable table, SessionOptions options, TimeProvider time, SessionDisk? disk)
{
    private readonly Dictionary<string, Tombstone> _tombstones = new(StringComparer.Ordinal);
    private readonly PriorityQueue<(string Id, Tombstone Tombstone), DateTimeOffset> _tombstoneExpiry = new();
    private readonly Dictionary<string, SortedList<long, Parked>> _parked = new(StringComparer.Ordinal);

    /// <summary>A removed session: no copy at or below (epoch, version) is taken again.</summary>
    internal sealed record Tombstone(long Epoch, long Version, ulong[] RecentCommits, DateTimeOffset ExpiresAt);

    private sealed record Parked(SessionDelta Delta, string From, DateTimeOffset Since)
    {
        public DateTimeOffset LastAsked { get; set; } = Since;
    }

    /// <summary>Orders two copies: the later primary epoch first, then the version.</summary>
    public static int Compare(long epochA, long versionA, long epochB, long versionB) =>
        epochA != epochB ? epochA.CompareTo(epochB) : versionA.CompareTo(versionB);

    public int TombstoneCount => _tombstones.Count;

    public int ParkedCount => _parked.Count;

    public Tombstone? TombstoneOf(string id) => _tombstones.GetValueOrDefault(id);

    public IEnumerable<KeyValuePair<string, Tombstone>> Tombstones => _tombstones;

    /// <summary>Whether a delta for this session waits for its base.</summary>
    public bool IsParked(string id) => _parked.ContainsKey(id);

    /// <summary>Applies a commit an arbiter sequenced.</summary>
    public ApplyResult ApplyDelta(SessionDelta d, string from)
    {
        var id = d.Id;
        if (_tombstones.TryGetValue(id, out var dead) && Compare(d.Epoch, d.Version, dead.Epoch, dead.Version) <= 0)
            return ApplyResult.Superseded;
        var current = table.Get(id);
        if (current is not null && d.Version <= current.Version)
        {
            if (d.CommitId != 0 && Array.IndexOf(current.RecentCommits, d.CommitId) >= 0)
                return ApplyResult.Duplicate;
            if (Compare(d.Epoch, d.Version, current.Epoch, current.Version) <= 0)
                return ApplyResult.Duplicate;
            // A later epoch sequenced this version differently: our copy is one the primary never confirmed. The delta
            // waits for the arbiter's copy of its base, like one whose base has not arrived.
            Park(d, from);
            return ApplyResult.Conflict;
        }
        if (d.Removal)
        {
            Remove(id, d.Epoch, d.Version, StoreCodec.AppendCommit(current?.RecentCommits ?? [], d.CommitId));
            return ApplyResult.Applied;
        }
        if (d.IsNew || (current is not null && current.Version == d.BaseVersion))
        {
            Put(StoreCodec.Apply(d.IsNew ? null : current, d));
            DrainParked(id);
            return ApplyResult.Applied;
        }
        Park(d, from);
        return ApplyResult.Parked;
    }

    private void Park(SessionDelta d, string from)
    {
        if (!_parked.TryGetValue(d.Id, out var waiting))
            _parked[d.Id] = waiting = [];
        waiting[d.BaseVersion] = new Parked(d, from, time.GetUtcNow());
    }

    /// <summary>
    /// Takes a whole copy (or a tombstone): when it is newer than what this node has, or, with
    /// <paramref name="authoritative"/>, whatever this node has unless it already holds a later commit of
    /// <paramref name="currentEpoch"/> (the arbiter's reconciled state replaces copies the primary never confirmed).
    /// </summary>
    /// <returns>Whether the table or the tombstones changed.</returns>
    public bool ApplyCopy(SessionCopy c, bool authoritative, long currentEpoch)
    {
        var id = c.Id;
        var current = table.Get(id);
        _tombstones.TryGetValue(id, out var dead);
        var (haveEpoch, haveVersion, have) = current is not null ? (current.Epoch, current.Version, true)
            : dead is not null ? (dead.Epoch, dead.Version, true) : (0L, 0L, false);
        var order = have ? Compare(c.Epoch, c.Version, haveEpoch, haveVersion) : 1;
        if (order == 0 && (current is null) == c.Removed)
            return false;
        if (order <= 0 && !(authoritative && (haveEpoch < currentEpoch || order == 0)))
            return false;
        if (c.Removed)
        {
            Remove(id, c.Epoch, c.Version, [.. c.RecentCommits]);
            return true;
        }
        if (dead is not null)
            _tombstones.Remove(id);
        Put(StoreCodec.FromCopy(c));
        DrainParked(id);
        return true;
    }

    /// <summary>The arbiter's own commit, once its write concern is met.</summary>
    public void Commit(SessionState state)
    {
        _tombstones.Remove(state.Id);
        Put(state);
        DrainParked(state.Id);
    }

    /// <summary>Removes the session and leaves a tombstone that outlives every copy of it.</summary>
    public void Remove(string id, long epoch, long version, ulong[] recentCommits)
    {
        var idle = table.Get(id)?.IdleTimeout is { } own && own > options.IdleTimeout ? own : options.IdleTimeout;
        if (table.Remove(id))
            disk?.Delete(id);
        _parked.Remove(id);
        var tombstone = new Tombstone(epoch, version, recentCommits, time.GetUtcNow() + idle + options.EffectiveAccessWindow);
        _tombstones[id] = tombstone;
        _tombstoneExpiry.Enqueue((id, tombstone), tombstone.ExpiresAt);
        disk?.SaveTombstone(id, epoch, version, recentCommits);
    }

    /// <summary>Ring: drops a copy this node no longer must hold (its arbiter confirmed the holders have it).</summary>
    public void Drop(string id)
    {
        if (table.Remove(id))
            disk?.Delete(id);
        _parked.Remove(id);
    }

    /// <summary>Forgets tombstones past their time: any copy they kept out has expired by now.</summary>
    public int PruneTombstones()
    {
        var now = time.GetUtcNow();
        var pruned = 0;
        while (_tombstoneExpiry.TryPeek(out var entry, out var expires) && expires <= now)
        {
            _tombstoneExpiry.Dequeue();
            if (_tombstones.TryGetValue(entry.Id, out var t) && ReferenceEquals(t, entry.Tombstone))
            {
                _tombstones.Remove(entry.Id);
                disk?.Delete(entry.Id);
                pruned++;
            }
        }
        return pruned;
    }

    /// <summary>Loads a tombstone from the disk copy (at start).</summary>
    public void LoadTombstone(string id, long epoch, long version, ulong[] recentCommits)
    {
        if (table.Get(id) is { } current && Compare(current.Epoch, current.Version, epoch, version) >= 0)
            return;
        table.Remove(id);
        var tombstone = new Tombstone(epoch, version, recentCommits, time.GetUtcNow() + options.IdleTimeout + options.EffectiveAccessWindow);
        _tombstones[id] = tombstone;
        _tombstoneExpiry.Enqueue((id, tombstone), tombstone.ExpiresAt);
    }

    /// <summary>The parked deltas that waited longer than <paramref name="patience"/>: ask their sender for the whole session.</summary>
    public List<(string Id, string From)> DueParked(TimeSpan patience)
    {
        var now = time.GetUtcNow();
        var due = new List<(string, string)>();
        foreach (var (id, waiting) in _parked)
        {
            var first = waiting.Values[0];
            if (now - first.LastAsked < patience)
                continue;
            first.LastAsked = now;
            due.Add((id, first.From));
        }
        return due;
    }

    private void Put(SessionState state)
    {
        table.Set(state);
        disk?.Save(state);
    }

    private void DrainParked(string id)
    {
        if (!_parked.TryGetValue(id, out var waiting))
            return;
        while (table.Get(id) is { } state)
        {
            while (waiting.Count > 0 && waiting.Values[0].Delta.Version <= state.Version)
                waiting.RemoveAt(0);
            if (waiting.Count == 0 || !waiting.TryGetValue(state.Version, out var next))
                break;
            waiting.Remove(state.Version);
            Put(StoreCodec.Apply(state, next.Delta));
        }
        if (waiting.Count == 0)
            _parked.Remove(id);
    }
}

/// <summary>What <see cref="SessionApplier.ApplyDelta"/> did.</summary>
internal enum ApplyResult
{
    /// <summary>The table holds the change now.</summary>
    Applied,

    /// <summary>The table held it (or something newer) already.</summary>
    Duplicate,

    /// <summary>A removal newer than the change: it is not taken.</summary>
    Superseded,

    /// <summary>Its base has not arrived: it waits (ask the sender for the whole session).</summary>
    Parked,

    /// <summary>The table holds a version the primary never confirmed, superseded by this one: it waits (parked) for the
    /// arbiter's copy of its base (ask the sender for the whole session).</summary>
    Conflict,
}
