using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>What a store refused, buffered, repaired and transferred; read with <see cref="Volatile"/> semantics.</summary>
public sealed class StoreCounters
{
    /// <summary>Messages dropped because they could not be decoded or broke a limit.</summary>
    public long Malformed;

    /// <summary>Commits refused for a stale fencing token.</summary>
    public long RefusedStale;

    /// <summary>Peer updates applied.</summary>
    public long Applied;

    /// <summary>Deltas that arrived before their base version and waited for it.</summary>
    public long Buffered;

    /// <summary>Whole-session fetches made to fill a gap.</summary>
    public long Syncs;

    /// <summary>Sessions whose newest copy and lock were gathered by a new arbiter.</summary>
    public long Recoveries;

    /// <summary>Lock requests that waited for a release.</summary>
    public long LockWaits;

    /// <summary>Lock requests refused because the lock was held.</summary>
    public long LockConflicts;

    /// <summary>Commits whose write concern was not met in time.</summary>
    public long AckTimeouts;

    /// <summary>Sessions received by state transfer.</summary>
    public long TransferredSessions;

    /// <summary>Ring store: full copies pushed to members that became backups after a view change.</summary>
    public long Rebalanced;

    /// <summary>Ring store: copies dropped because this node no longer had to hold them.</summary>
    public long Dropped;

    /// <summary>Ring store: sessions loaded from the disk copy at start.</summary>
    public long LoadedFromDisk;

    /// <summary>Ring store: disk files skipped because they were truncated or failed their checksum.</summary>
    public long CorruptFiles;

    internal void Increment(ref long counter) => Interlocked.Increment(ref counter);
}
