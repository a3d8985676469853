namespace Multicast.Stores;

/// <summary>What a built-in store refused, repaired, recovered and transferred. Read-only; safe to read from any thread.</summary>
public sealed class StoreCounters
{
    private long _malformed, _refusedStale, _applied, _buffered, _syncs, _recoveries, _lockWaits, _lockConflicts,
        _writeConcernRecounts, _transferred, _rebalanced, _dropped, _loadedFromDisk, _corruptFiles, _noQuorum,
        _staleEpoch, _outcomeQueries, _inDoubt, _reconciliations, _writeConcernTimeouts, _primaryStateAsks, _stalls, _commitResends,
        _reconcileResends;

    /// <summary>Messages dropped because they could not be decoded or broke a limit.</summary>
    public long Malformed => Volatile.Read(ref _malformed);

    /// <summary>Commits refused for a stale fencing token.</summary>
    public long RefusedStale => Volatile.Read(ref _refusedStale);

    /// <summary>Updates from the arbiter applied on this holder.</summary>
    public long Applied => Volatile.Read(ref _applied);

    /// <summary>Deltas that arrived before their base version and waited for it.</summary>
    public long Buffered => Volatile.Read(ref _buffered);

    /// <summary>Whole-session fetches made to fill a gap.</summary>
    public long Syncs => Volatile.Read(ref _syncs);

    /// <summary>Sessions whose newest copy and lock this node gathered as their new arbiter.</summary>
    public long Recoveries => Volatile.Read(ref _recoveries);

    /// <summary>Lock requests that waited for a release.</summary>
    public long LockWaits => Volatile.Read(ref _lockWaits);

    /// <summary>Lock requests refused because the lock was held.</summary>
    public long LockConflicts => Volatile.Read(ref _lockConflicts);

    /// <summary>Commits whose write concern was counted again because the view changed while they waited.</summary>
    public long WriteConcernRecounts => Volatile.Read(ref _writeConcernRecounts);

    /// <summary>Commits that kept a member which never acknowledged past the commit timeout from counting (it stays in the view).</summary>
    public long WriteConcernTimeouts => Volatile.Read(ref _writeConcernTimeouts);

    /// <summary>Times a commit sent its update again to members that had not acknowledged it within a quarter of the
    /// commit timeout (the update or the acknowledgement was lost, or the member is slow).</summary>
    public long CommitResends => Volatile.Read(ref _commitResends);

    /// <summary>Times a reconciliation message was sent again, or asked for again, because its answer did not come in
    /// time (a digest chunk, a pushed copy, "done", "ready" or a fetch was lost, or the member is slow).</summary>
    public long ReconcileResends => Volatile.Read(ref _reconcileResends);

    /// <summary>Whole sessions received from arbiters while catching up (joins, rejoins, new backups).</summary>
    public long TransferredSessions => Volatile.Read(ref _transferred);

    /// <summary>Whole copies this node pushed, as an arbiter, to holders that lacked them.</summary>
    public long Rebalanced => Volatile.Read(ref _rebalanced);

    /// <summary>Ring store: copies dropped because this node no longer had to hold them.</summary>
    public long Dropped => Volatile.Read(ref _dropped);

    /// <summary>Ring store: sessions loaded from the disk copy at start.</summary>
    public long LoadedFromDisk => Volatile.Read(ref _loadedFromDisk);

    /// <summary>Ring store: disk files skipped because they were truncated or failed their checksum.</summary>
    public long CorruptFiles => Volatile.Read(ref _corruptFiles);

    /// <summary>Requests refused because this node was in a minority partition (no quorum).</summary>
    public long NoQuorumRefusals => Volatile.Read(ref _noQuorum);

    /// <summary>Updates refused because they came from an arbiter of an earlier primary epoch.</summary>
    public long StaleEpochRefusals => Volatile.Read(ref _staleEpoch);

    /// <summary>Commits whose arbiter changed before answering, resolved by asking the new arbiter.</summary>
    public long OutcomeQueries => Volatile.Read(ref _outcomeQueries);

    /// <summary>Commits whose outcome could not be learned before the deadline (the only ambiguous answer).</summary>
    public long InDoubt => Volatile.Read(ref _inDoubt);

    /// <summary>Times this node asked the members of an undecided view to send their primary states again.</summary>
    public long PrimaryStateAsks => Volatile.Read(ref _primaryStateAsks);

    /// <summary>Times this node found it had stalled past half the suspect timeout (then it confirmed its view with a
    /// majority before serving again).</summary>
    public long Stalls => Volatile.Read(ref _stalls);

    /// <summary>Primary epochs this node reconciled (digests gathered, copies recovered and pushed).</summary>
    public long Reconciliations => Volatile.Read(ref _reconciliations);

    internal void AddStall() => Interlocked.Increment(ref _stalls);
    internal void AddMalformed() => Interlocked.Increment(ref _malformed);
    internal void AddRefusedStale() => Interlocked.Increment(ref _refusedStale);
    internal void AddApplied() => Interlocked.Increment(ref _applied);
    internal void AddBuffered() => Interlocked.Increment(ref _buffered);
    internal void AddSync() => Interlocked.Increment(ref _syncs);
    internal void AddRecoveries(long n) => Interlocked.Add(ref _recoveries, n);
    internal void AddLockWait() => Interlocked.Increment(ref _lockWaits);
    internal void AddLockConflict() => Interlocked.Increment(ref _lockConflicts);
    internal void AddWriteConcernRecount() => Interlocked.Increment(ref _writeConcernRecounts);
    internal void AddWriteConcernTimeout() => Interlocked.Increment(ref _writeConcernTimeouts);
    internal void AddCommitResend() => Interlocked.Increment(ref _commitResends);
    internal void AddReconcileResend() => Interlocked.Increment(ref _reconcileResends);
    internal void AddTransferred(long n) => Interlocked.Add(ref _transferred, n);
    internal void AddRebalanced(long n) => Interlocked.Add(ref _rebalanced, n);
    internal void AddDropped(long n) => Interlocked.Add(ref _dropped, n);
    internal void AddLoadedFromDisk(long n) => Interlocked.Add(ref _loadedFromDisk, n);
    internal void AddCorruptFile() => Interlocked.Increment(ref _corruptFiles);
    internal void AddNoQuorum() => Interlocked.Increment(ref _noQuorum);
    internal void AddStaleEpoch() => Interlocked.Increment(ref _staleEpoch);
    internal void AddOutcomeQuery() => Interlocked.Increment(ref _outcomeQueries);
    internal void AddInDoubt() => Interlocked.Increment(ref _inDoubt);
    internal void AddPrimaryStateAsk() => Interlocked.Increment(ref _primaryStateAsks);
    internal void AddReconciliation() => Interlocked.Increment(ref _reconciliations);
}
