using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

// What only the ring placement needs: reads from the owner, replication to backups with acknowledgements,
// re-replication after view changes, dropping copies a node no longer must hold, and the disk copy.
internal sealed partial class StoreEngine
{
    private static readonly TimeSpan TrimInterval = TimeSpan.FromSeconds(1);
    private const int HoldBatch = 2000;

    private long _rebalancedView = -1;
    private MembershipView? _balancedView; // the last view whose re-replication completed
    private DateTimeOffset _lastTrim;
    private int _trimming;
    private int _pushing; // re-replications in flight

    /// <summary>Loads the disk copy before joining; the join then takes, per session, the newest of disk and peers.</summary>
    private void LoadDisk()
    {
        _disk = new SessionDisk(_options.DataDirectory, _log, Counters);
        var loaded = _disk.Load(SessionOptions.MaxSessionBytes);
        lock (_gate)
        {
            foreach (var update in loaded)
            {
                // Straight into the table: these files are already the disk copy.
                if (!Table.TryGet(update.SessionId, out var r) || r.Version < update.Version)
                    Table.Set(StoreCodec.Apply(null, update));
            }
        }
        LogDiskLoaded(loaded.Count, Counters.CorruptFiles, _options.DataDirectory);
    }

    /// <summary>
    /// The acting owner's latest committed copy, for a read on a node that need not hold the session or whose copy
    /// may trail (<see cref="ReadConsistency.Latest"/>). The owner sends the whole session only when
    /// <paramref name="known"/> is behind; a newer copy also refreshes this node's own.
    /// </summary>
    private async Task<SessionState?> FetchLatestAsync(string id, SessionState? known, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var arbiter = ArbiterFor(id, _view);
            if (arbiter is null || arbiter.NodeId == InstanceId)
            {
                await EnsureArbitratingAsync(id, cancellationToken);
                if (IsReady && IsArbiter(id, _view))
                    return Table.Get(id);
            }
            else
            {
                var callId = NextCallId();
                try
                {
                    var request = new Envelope { SyncRequest = new SyncRequest { RequestId = callId, SessionId = id, Latest = true, KnownVersion = known?.Version ?? 0 } };
                    var reply = (await CallAsync(arbiter.NodeId, callId, request, _options.CommitTimeout, cancellationToken)).SyncReply;
                    if (reply is { NotArbiter: false, State: { } state })
                    {
                        if (!state.Exists)
                            return null;
                        if (state.Summary)
                            return known;
                        if (HoldsHere(id))
                            Apply(state, arbiter.NodeId);
                        var latest = StoreCodec.Apply(null, state);
                        return Table.TryGet(id, out var held) && held.Version >= latest.Version ? held : latest;
                    }
                }
                catch (MemberGoneException)
                {
                    // The view changed under the call: ask the next acting owner.
                }
            }
            if (Stopwatch.GetElapsedTime(started) > _options.LockWaitTimeout)
                throw new TimeoutException($"No node could serve session '{id}' within {_options.LockWaitTimeout.TotalSeconds:0.#} s.");
            await Task.Delay(TimeSpan.FromMilliseconds(10), cancellationToken);
        }
    }

    /// <summary>
    /// An acting owner answers a latest read only once it may arbitrate the session (recovered); it defers the
    /// answer until then. True when deferred. Under the gate.
    /// </summary>
    private bool DeferLatestLocked(string from, SyncRequest request, SyncReply reply)
    {
        var id = request.SessionId;
        if (!IsReady || !IsArbiter(id, _view))
        {
            reply.NotArbiter = true;
            return false;
        }
        var st = GetLockState(id);
        if (st.ConfirmedInView != _view.Id && NeedsRecovery(id, st))
        {
            _ = AfterRecoveryAsync(id, () => HandleSyncRequest(from, request));
            return true;
        }
        st.ConfirmedInView = _view.Id;
        return false;
    }

    /// <summary>A backup receives committed changes (or copies); it acknowledges once it holds them.</summary>
    private void HandleReplicate(string from, Replicate message)
    {
        List<Update>? missing = null;
        foreach (var update in message.Updates)
        {
            Apply(update, from);
            if (!HoldsVersion(update))
                (missing ??= []).Add(update);
        }
        var durable = _options.DurableCommits && _disk is not null;
        if (missing is null && !durable)
        {
            Reply(from, new Envelope { ReplicateAck = new ReplicateAck { RequestId = message.RequestId } });
            return;
        }
        _ = AckWhenHeldAsync(from, message.RequestId, missing ?? []);
    }

    private bool HoldsVersion(Update update)
    {
        if (update.Removal)
            return !Table.Contains(update.SessionId) || _tombstones.ContainsKey(update.SessionId);
        return Table.TryGet(update.SessionId, out var r) && r.Version >= update.Version;
    }

    /// <summary>A change that arrived before its base: fetch the whole session from the arbiter, then acknowledge.</summary>
    private async Task AckWhenHeldAsync(string from, ulong requestId, List<Update> missing)
    {
        try
        {
            // A joiner may not know the arbiter yet, or be receiving the base in its state transfer: keep trying
            // while the arbiter still waits.
            var started = Stopwatch.GetTimestamp();
            while (missing.Any(u => !HoldsVersion(u)))
            {
                if (Stopwatch.GetElapsedTime(started) > _options.CommitTimeout || _stopping.IsCancellationRequested)
                    return; // no acknowledgement: the arbiter's write concern times out rather than count a copy that is not here
                foreach (var update in missing)
                {
                    if (!HoldsVersion(update))
                        await SyncFromAsync(from, update.SessionId, Table.TryGet(update.SessionId, out var r) ? r.Version : 0);
                }
                if (missing.Any(u => !HoldsVersion(u)))
                    await Task.Delay(TimeSpan.FromMilliseconds(20), _stopping.Token);
            }
            if (_options.DurableCommits && _disk is not null)
                await _disk.FlushAsync();
            Reply(from, new Envelope { ReplicateAck = new ReplicateAck { RequestId = requestId } });
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            LogAckFailed(from, ex);
        }
    }

    /// <summary>The acting owner confirms the copies it holds at least at the asker's version, once its backups are restored.</summary>
    private void HandleHoldRequest(string from, HoldRequest request)
    {
        var reply = new HoldReply { RequestId = request.RequestId };
        lock (_gate)
        {
            if (IsReady && Interlocked.Read(ref _rebalancedView) >= _view.Id)
            {
                foreach (var entry in request.Entries)
                {
                    if (IsArbiter(entry.SessionId, _view) && Table.TryGet(entry.SessionId, out var r) && r.Version >= entry.Version)
                        reply.Held.Add(entry.SessionId);
                }
            }
        }
        Reply(from, new Envelope { HoldReply = reply });
    }

    /// <summary>
    /// After a view change, the acting owner of each session pushes full copies to the members that became its
    /// backups (a joiner asks for what it must hold itself). On the receive thread: only the snapshot is taken here.
    /// </summary>
    private void Rebalance(MembershipView previous, MembershipView view)
    {
        if (!IsReady)
            return;
        // Compare with the last view whose pushes completed, so a push that failed is made again.
        previous = _balancedView ?? previous;
        var pushes = new Dictionary<string, List<SessionState>>(StringComparer.Ordinal);
        lock (_gate)
        {
            foreach (var record in Table)
            {
                var id = record.Id;
                if (!IsArbiter(id, view))
                    continue;
                foreach (var backup in _placement.Backups(id, view))
                {
                    // A joiner asks for its copies too, but a commit may have left here just before this node saw
                    // it join, sent to the old backup only: pushing closes that gap (duplicates are ignored by version).
                    if (_placement.MustHold(id, previous, backup.NodeId) && previous.Find(backup.NodeId) == backup)
                        continue;
                    if (!pushes.TryGetValue(backup.NodeId, out var list))
                        pushes[backup.NodeId] = list = [];
                    list.Add(record);
                }
            }
        }
        if (pushes.Count == 0)
        {
            MarkRebalanced(view);
            return;
        }
        Interlocked.Increment(ref _pushing);
        _ = PushCopiesAsync(view, pushes);
    }

    /// <summary>A re-replication that failed (a timeout, a member that left) is retried from the maintenance tick.</summary>
    private void RetryRebalance()
    {
        var view = _view;
        if (IsReady && Interlocked.Read(ref _rebalancedView) < view.Id && Volatile.Read(ref _pushing) == 0)
            Rebalance(_balancedView ?? view, view);
    }

    private async Task PushCopiesAsync(MembershipView view, Dictionary<string, List<SessionState>> pushes)
    {
        var sent = 0;
        var tasks = new List<Task>();
        foreach (var (node, records) in pushes)
        {
            var batch = new Replicate();
            var bytes = 0;
            foreach (var record in records)
            {
                batch.Updates.Add(StoreCodec.ToFull(record));
                bytes += record.Size + 64;
                if (bytes >= _options.StateTransferChunkBytes)
                {
                    tasks.Add(PushBatchAsync(node, batch));
                    batch = new Replicate();
                    bytes = 0;
                }
            }
            if (batch.Updates.Count > 0)
                tasks.Add(PushBatchAsync(node, batch));
            sent += records.Count;
        }
        try
        {
            await Task.WhenAll(tasks);
            Counters.Rebalanced += sent;
            MarkRebalanced(view);
            LogRebalanced(sent, pushes.Count, view.Id);
        }
        catch (Exception ex) when (ex is MemberGoneException or TimeoutException or OperationCanceledException)
        {
            // Retried from the tick; until then nobody drops the copies it would have replaced.
            LogRebalanceFailed(view.Id, ex);
        }
        finally
        {
            Interlocked.Decrement(ref _pushing);
        }
    }

    private Task PushBatchAsync(string node, Replicate batch)
    {
        var callId = NextCallId();
        batch.RequestId = callId;
        return CallAsync(node, callId, new Envelope { Replicate = batch }, _options.CommitTimeout + _options.CommitTimeout, _stopping.Token);
    }

    private void MarkRebalanced(MembershipView view)
    {
        var viewId = view.Id;
        lock (_gate)
        {
            if (_balancedView is null || _balancedView.Id < viewId)
                _balancedView = view;
        }
        long seen;
        while ((seen = Interlocked.Read(ref _rebalancedView)) < viewId && Interlocked.CompareExchange(ref _rebalancedView, viewId, seen) != seen)
        {
        }
    }

    /// <summary>Drops the copies this node no longer must hold, once their acting owner confirms it holds them.</summary>
    private void TrimCopies(DateTimeOffset now)
    {
        if (!IsReady || now - _lastTrim < TrimInterval || Interlocked.CompareExchange(ref _trimming, 1, 0) != 0)
            return;
        _lastTrim = now;
        RetryRebalance();
        var view = _view;
        var asks = new Dictionary<string, HoldRequest>(StringComparer.Ordinal);
        foreach (var record in Table)
        {
            var id = record.Id;
            if (_placement.MustHold(id, view, InstanceId) || ArbiterFor(id, view) is not { } arbiter)
                continue;
            if (!asks.TryGetValue(arbiter.NodeId, out var ask))
                asks[arbiter.NodeId] = ask = new HoldRequest();
            if (ask.Entries.Count < HoldBatch)
                ask.Entries.Add(new HoldEntry { SessionId = id, Version = record.Version });
        }
        if (asks.Count == 0)
        {
            Volatile.Write(ref _trimming, 0);
            return;
        }
        _ = TrimAsync(asks);
    }

    private async Task TrimAsync(Dictionary<string, HoldRequest> asks)
    {
        try
        {
            foreach (var (node, ask) in asks)
            {
                var callId = NextCallId();
                ask.RequestId = callId;
                HoldReply? reply;
                try
                {
                    reply = (await CallAsync(node, callId, new Envelope { HoldRequest = ask }, _options.CommitTimeout, _stopping.Token)).HoldReply;
                }
                catch (Exception ex) when (ex is MemberGoneException or TimeoutException or OperationCanceledException)
                {
                    continue;
                }
                if (reply is null)
                    continue;
                var versions = ask.Entries.ToDictionary(e => e.SessionId, e => e.Version, StringComparer.Ordinal);
                var dropped = 0;
                lock (_gate)
                {
                    foreach (var id in reply.Held)
                    {
                        if (versions.TryGetValue(id, out var asked) && Table.TryGet(id, out var r) && r.Version <= asked && !HoldsHere(id))
                        {
                            Drop(id);
                            _pending.Remove(id);
                            dropped++;
                        }
                    }
                }
                Counters.Dropped += dropped;
                if (dropped > 0)
                    LogDropped(dropped, node);
            }
        }
        finally
        {
            Volatile.Write(ref _trimming, 0);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Loaded {Count} session(s) from the disk copy in {Directory}; {Corrupt} corrupt file(s) skipped")]
    private partial void LogDiskLoaded(int count, long corrupt, string directory);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not acknowledge replicated changes to {Arbiter}")]
    private partial void LogAckFailed(string arbiter, Exception ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "Re-replicated {Count} session copies to {Nodes} new backup(s) for view {ViewId}")]
    private partial void LogRebalanced(int count, int nodes, long viewId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Re-replication for view {ViewId} did not complete")]
    private partial void LogRebalanceFailed(long viewId, Exception ex);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Dropped {Count} copies this node no longer must hold; {Owner} holds them")]
    private partial void LogDropped(int count, string owner);
}
