using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

// The receive path: everything here runs on the transport's receive thread unless it says otherwise.
internal sealed partial class StoreEngine
{
    private static readonly TimeSpan PendingPatience = TimeSpan.FromMilliseconds(200);
    private const int ViewHistory = 32;

    private readonly Dictionary<Member, long> _delivered = [];
    private readonly Dictionary<string, SortedList<long, PendingUpdate>> _pending = new(StringComparer.Ordinal);
    private readonly Dictionary<long, MembershipView> _views = [];
    private long _firstViewId = -1;
    private bool _firstViewAlone;

    private sealed record PendingUpdate(Update Update, string Sender, DateTimeOffset Since)
    {
        public DateTimeOffset LastSync { get; set; } = Since;
    }

    private sealed class Handler(StoreEngine store) : GroupHandler
    {
        public override void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast) =>
            store.OnMessage(sender, sequence, payload, unicast);

        public override void OnViewChanged(MembershipView view) => store.OnViewChanged(view);
    }

    private void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast)
    {
        if (_context is null || !StoreCodec.TryDecode(payload, _context.Options.MaxSessionBytes, out var message))
        {
            Counters.Increment(ref Counters.Malformed);
            LogMalformed(sender.NodeId, payload.Length);
            return;
        }
        try
        {
            if (!unicast)
            {
                _delivered[sender] = sequence;
                if (_joining && _placement.EveryNode && message.BodyCase is Envelope.BodyOneofCase.Update or Envelope.BodyOneofCase.Touch)
                {
                    _joinBuffer.Add((sender, sequence, message));
                    return;
                }
            }
            Dispatch(sender, message);
        }
        catch (Exception ex)
        {
            LogDispatchFailed(message.BodyCase.ToString(), sender.NodeId, ex);
        }
    }

    private void Dispatch(Member sender, Envelope message)
    {
        switch (message.BodyCase)
        {
            case Envelope.BodyOneofCase.Update:
                Apply(message.Update, sender.NodeId);
                break;
            case Envelope.BodyOneofCase.Touch:
                ApplyTouches(message.Touch);
                break;
            case Envelope.BodyOneofCase.LockRequest:
                HandleLockRequest(sender.NodeId, message.LockRequest);
                break;
            case Envelope.BodyOneofCase.LockCancel:
                HandleLockCancel(sender.NodeId, message.LockCancel);
                break;
            case Envelope.BodyOneofCase.Release:
                lock (_gate)
                {
                    if (_locks.TryGetValue(message.Release.SessionId, out var st))
                        ReleaseLocked(message.Release.SessionId, st, message.Release.Token);
                }
                break;
            case Envelope.BodyOneofCase.Commit:
                HandleCommit(sender.NodeId, message.Commit);
                break;
            case Envelope.BodyOneofCase.SyncRequest:
                HandleSyncRequest(sender.NodeId, message.SyncRequest);
                break;
            case Envelope.BodyOneofCase.StateRequest:
                HandleStateRequest(sender, message.StateRequest);
                break;
            case Envelope.BodyOneofCase.StateChunk:
                HandleStateChunk(sender.NodeId, message.StateChunk);
                break;
            case Envelope.BodyOneofCase.Replicate:
                HandleReplicate(sender.NodeId, message.Replicate);
                break;
            case Envelope.BodyOneofCase.HoldRequest:
                HandleHoldRequest(sender.NodeId, message.HoldRequest);
                break;
            case Envelope.BodyOneofCase.ReplicateAck:
                CompleteCall(message.ReplicateAck.RequestId, message);
                break;
            case Envelope.BodyOneofCase.HoldReply:
                CompleteCall(message.HoldReply.RequestId, message);
                break;
            case Envelope.BodyOneofCase.LockReply:
                if (!CompleteCall(message.LockReply.RequestId, message) && message.LockReply.Status == LockStatus.Granted)
                {
                    // A grant for a request that gave up waiting: give it straight back.
                    Send(sender.NodeId, new Envelope { Release = new Release { SessionId = message.LockReply.SessionId, Token = message.LockReply.Token } });
                }
                break;
            case Envelope.BodyOneofCase.CommitReply:
                CompleteCall(message.CommitReply.RequestId, message);
                break;
            case Envelope.BodyOneofCase.SyncReply:
                CompleteCall(message.SyncReply.RequestId, message);
                break;
        }
    }

    /// <summary>Applies an update in the session's version order; a delta whose base has not arrived waits for it.</summary>
    private bool Apply(Update update, string sender)
    {
        bool applied;
        lock (_gate)
        {
            applied = ApplyLocked(update, sender);
        }
        if (applied)
        {
            Counters.Increment(ref Counters.Applied);
            if (update.Writer != InstanceId)
                RaiseReceivedOrRemoved(update, local: false);
        }
        return applied;
    }

    private bool ApplyLocked(Update u, string sender)
    {
        var id = u.SessionId;
        if (u.Summary || (!u.Exists && !u.Removal))
            return false;
        if (_tombstones.TryGetValue(id, out var removedAt) && u.Version <= removedAt)
            return false;
        Table.TryGet(id, out var record);
        var current = record?.Version ?? 0;
        if (u.Version <= current)
            return false;
        if (u.Removal)
        {
            RemoveLocked(id, u.Version);
            _pending.Remove(id);
            return true;
        }
        if (u.Full || u.BaseVersion == current)
        {
            Put(id, StoreCodec.Apply(u.Full ? null : record, u));
            DrainPendingLocked(id);
            return true;
        }
        if (!_pending.TryGetValue(id, out var waiting))
        {
            waiting = [];
            _pending[id] = waiting;
        }
        waiting[u.BaseVersion] = new PendingUpdate(u, sender, _time.GetUtcNow());
        Counters.Increment(ref Counters.Buffered);
        return false;
    }

    private void DrainPendingLocked(string id)
    {
        if (!_pending.TryGetValue(id, out var waiting))
            return;
        while (Table.TryGet(id, out var record))
        {
            while (waiting.Count > 0 && waiting.Values[0].Update.Version <= record.Version)
                waiting.RemoveAt(0);
            if (waiting.Count == 0 || !waiting.TryGetValue(record.Version, out var next))
                break;
            waiting.Remove(record.Version);
            Put(id, StoreCodec.Apply(record, next.Update));
        }
        if (waiting.Count == 0)
            _pending.Remove(id);
    }

    /// <summary>A delta that waited too long for its base: fetch the whole session from whoever announced it.</summary>
    private void RetryStalePending(DateTimeOffset now)
    {
        List<(string Id, string Sender, long Known)>? due = null;
        lock (_gate)
        {
            foreach (var (id, waiting) in _pending)
            {
                var first = waiting.Values[0];
                if (now - first.LastSync < PendingPatience)
                    continue;
                first.LastSync = now;
                (due ??= []).Add((id, first.Sender, Table.TryGet(id, out var r) ? r.Version : 0));
            }
        }
        foreach (var (id, sender, known) in due ?? [])
            _ = SyncFromAsync(sender, id, known);
    }

    private async Task SyncFromAsync(string node, string id, long known)
    {
        Counters.Increment(ref Counters.Syncs);
        var callId = NextCallId();
        try
        {
            var reply = await CallAsync(node, callId, new Envelope { SyncRequest = new SyncRequest { RequestId = callId, SessionId = id, KnownVersion = known } }, _options.CommitTimeout, _stopping.Token);
            if (reply.SyncReply?.State is { } state)
                Apply(state, node);
        }
        catch (Exception ex) when (ex is MemberGoneException or TimeoutException or OperationCanceledException)
        {
            // The next tick asks again (possibly someone else).
        }
    }

    private void HandleSyncRequest(string from, SyncRequest request)
    {
        var reply = new SyncReply { RequestId = request.RequestId };
        lock (_gate)
        {
            if (request.Latest && DeferLatestLocked(from, request, reply))
                return;
            if (!Table.TryGet(request.SessionId, out var record))
                reply.State = StoreCodec.Missing(request.SessionId);
            else if (record.Version > request.KnownVersion)
                reply.State = StoreCodec.ToFull(record);
            else
                reply.State = new Update { SessionId = record.Id, Version = record.Version, Exists = true, Summary = true };

            if (reply.NotArbiter)
                reply.State = StoreCodec.Missing(request.SessionId);
            else if (request.TakeLock && _locks.Remove(request.SessionId, out var st))
            {
                // The asker arbitrates this session now: hand over the lock and send our waiters there.
                reply.HasLock = st.Holder is not null;
                reply.Holder = st.Holder ?? string.Empty;
                reply.Token = st.Token;
                reply.ExpiresMs = st.ExpiresAt.ToUnixTimeMilliseconds();
                reply.LastToken = st.LastToken;
                RedirectWaitersLocked(st);
            }
        }
        Reply(from, new Envelope { SyncReply = reply });
    }

    private void RedirectWaitersLocked(LockState st)
    {
        foreach (var w in st.Waiters)
        {
            var moved = new LockReply { RequestId = w.RequestId, SessionId = st.Id, Status = LockStatus.NotArbiter };
            if (w.Local is not null)
                w.Local.TrySetResult(moved);
            else
                Reply(w.Node, new Envelope { LockReply = moved });
        }
        st.Waiters.Clear();
    }

    private void HandleLockRequest(string from, LockRequest request)
    {
        var id = request.SessionId;
        LockReply? reply;
        lock (_gate)
        {
            if (!IsReady || !IsArbiter(id, _view))
            {
                reply = new LockReply { RequestId = request.RequestId, SessionId = id, Status = LockStatus.NotArbiter };
            }
            else
            {
                var st = GetLockState(id);
                if (st.ConfirmedInView != _view.Id && NeedsRecovery(id, st))
                {
                    _ = AfterRecoveryAsync(id, () => HandleLockRequest(from, request));
                    return;
                }
                st.ConfirmedInView = _view.Id;
                reply = TryGrantLocked(id, st, from, request.RequestId, request.KnownVersion, (LockConflictPolicy)request.Policy, null);
            }
        }
        if (reply is not null)
            Reply(from, new Envelope { LockReply = reply });
    }

    private void HandleLockCancel(string from, LockCancel cancel)
    {
        lock (_gate)
        {
            if (!_locks.TryGetValue(cancel.SessionId, out var st))
                return;
            var node = st.Waiters.First;
            while (node is not null && !(node.Value.Node == from && node.Value.RequestId == cancel.RequestId))
                node = node.Next;
            if (node is not null)
                st.Waiters.Remove(node);
        }
    }

    private void HandleCommit(string from, Commit commit)
    {
        var update = commit.Update;
        CommitOutcome outcome;
        lock (_gate)
        {
            if (!IsReady || !IsArbiter(update.SessionId, _view))
            {
                Reply(from, new Envelope { CommitReply = new CommitReply { RequestId = commit.RequestId, SessionId = update.SessionId, Error = "not_arbiter" } });
                return;
            }
            var st = GetLockState(update.SessionId);
            if (st.ConfirmedInView != _view.Id && NeedsRecovery(update.SessionId, st))
            {
                _ = AfterRecoveryAsync(update.SessionId, () => HandleCommit(from, commit));
                return;
            }
            st.ConfirmedInView = _view.Id;
            outcome = CommitLocked(update, commit.Release);
        }
        if (outcome.Error is not null || outcome.Replication is null)
        {
            Reply(from, new Envelope { CommitReply = new CommitReply { RequestId = commit.RequestId, SessionId = update.SessionId, Accepted = outcome.Error is null, Error = outcome.Error ?? string.Empty, CurrentToken = outcome.CurrentToken, Version = update.Version } });
            return;
        }
        RaiseReceivedOrRemoved(update, local: false);
        _ = FinishRemoteCommitAsync(from, commit.RequestId, update, outcome.Replication);
    }

    private async Task FinishRemoteCommitAsync(string from, ulong requestId, Update update, Task replication)
    {
        var reply = new CommitReply { RequestId = requestId, SessionId = update.SessionId, Accepted = true, Version = update.Version };
        try
        {
            await replication;
        }
        catch (TimeoutException)
        {
            reply.Error = "acks";
        }
        catch (Exception ex) when (ex is OperationCanceledException or SendWindowFullException or InvalidOperationException or IOException)
        {
            reply.Error = "acks";
        }
        Reply(from, new Envelope { CommitReply = reply });
    }

    private void ApplyTouches(Touch touch)
    {
        lock (_gate)
        {
            ApplyTouchesLocked(touch);
        }
    }

    private void ApplyTouchesLocked(Touch touch)
    {
        foreach (var t in touch.Entries)
        {
            if (Table.TryGet(t.SessionId, out var r) && r.LastAccessedAt.ToUnixTimeMilliseconds() < t.LastAccessMs)
                Table.Set(r.WithLastAccess(DateTimeOffset.FromUnixTimeMilliseconds(t.LastAccessMs)));
        }
    }

    /// <summary>Announces the last-access times gathered since the previous flush, in batches.</summary>
    private async Task FlushTouchesAsync()
    {
        if (_context is null || _touched.IsEmpty)
            return;
        var batch = new Touch();
        foreach (var (id, ms) in _touched)
        {
            // A read on a node that does not hold the session (ring) still keeps it alive where it is held.
            var held = Table.TryGet(id, out var r);
            if (held ? r!.LastAccessedAt.ToUnixTimeMilliseconds() >= ms : _placement.EveryNode)
            {
                _touched.TryRemove(new KeyValuePair<string, long>(id, ms));
                continue;
            }
            if (!held)
                _touched.TryRemove(new KeyValuePair<string, long>(id, ms));
            batch.Entries.Add(new TouchEntry { SessionId = id, LastAccessMs = ms });
        }
        if (batch.Entries.Count == 0)
            return;
        ApplyTouches(batch);
        try
        {
            foreach (var chunk in batch.Entries.Chunk(2000))
            {
                var part = new Touch();
                part.Entries.AddRange(chunk);
                await _channel.BroadcastAsync(StoreCodec.Encode(new Envelope { Touch = part }));
            }
        }
        catch (Exception ex) when (ex is SendWindowFullException or InvalidOperationException or ObjectDisposedException)
        {
            LogTouchFailed(ex);
        }
    }

    private void PruneTombstones(DateTimeOffset now)
    {
        // A removal is final once every update older than it has had time to arrive; a handful of minutes is plenty.
        if (_tombstones.Count < 10_000)
            return;
        _tombstones.Clear();
        LogTombstonesPruned(now);
    }

    private void OnViewChanged(MembershipView view)
    {
        var previous = _view;
        _view = view;
        _views[view.Id] = view;
        if (_views.Count > ViewHistory)
            _views.Remove(_views.Keys.Min());
        if (_firstViewId < 0)
        {
            _firstViewId = view.Id;
            _firstViewAlone = view.Members.Count == 1;
        }
        var gone = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in previous.Members)
        {
            if (view.Find(m.NodeId) is not { } now || now.Incarnation != m.Incarnation)
                gone.Add(m.NodeId);
        }
        LogViewChanged(view.Id, view.Members.Count, string.Join(", ", view.Members), gone.Count);

        lock (_gate)
        {
            foreach (var (id, st) in _locks)
            {
                for (var node = st.Waiters.First; node is not null;)
                {
                    var next = node.Next;
                    if (gone.Contains(node.Value.Node))
                        st.Waiters.Remove(node);
                    node = next;
                }
                if (st.Holder is { } holder && holder != InstanceId && gone.Contains(holder))
                {
                    // A holder that left cannot commit: free its lock at once rather than at the end of its lease.
                    LogHolderLeft(id, holder, st.Token);
                    st.Holder = null;
                    GrantNextLocked(id, st);
                }
                if (!IsArbiter(id, view))
                    RedirectWaitersLocked(st);
            }
        }
        FailCalls(call => gone.Contains(call.Target) || !view.Contains(call.Target));
        OnViewChangedWhileJoining(view, gone);
        if (!_placement.EveryNode)
            Rebalance(previous, view);
    }

    /// <summary>
    /// Whether this node must ask the cluster for a session's newest copy (and lock) before arbitrating it:
    /// true unless it arbitrated the session in every view since it last confirmed it.
    /// </summary>
    private bool NeedsRecovery(string id, LockState st)
    {
        var from = st.ConfirmedInView;
        if (from < 0)
        {
            if (!_firstViewAlone)
                return true;
            from = _firstViewId;
        }
        if (!_views.ContainsKey(from))
            return true;
        foreach (var (viewId, v) in _views)
        {
            if (viewId >= from && !IsArbiter(id, v))
                return true;
        }
        return false;
    }

    /// <summary>Makes sure this node may arbitrate <paramref name="id"/> (recovering first when needed). Not on the receive thread.</summary>
    private async Task EnsureArbitratingAsync(string id, CancellationToken cancellationToken)
    {
        Task? recovery;
        lock (_gate)
        {
            if (!IsArbiter(id, _view) || !IsReady)
                return;
            var st = GetLockState(id);
            if (st.ConfirmedInView == _view.Id)
                return;
            if (!NeedsRecovery(id, st))
            {
                st.ConfirmedInView = _view.Id;
                return;
            }
            if (!_recoveries.TryGetValue(id, out recovery))
            {
                recovery = RecoverAsync(id, _view);
                _recoveries[id] = recovery;
            }
        }
        await recovery.WaitAsync(cancellationToken);
    }

    private async Task AfterRecoveryAsync(string id, Action then)
    {
        try
        {
            await Task.Yield();
            await EnsureArbitratingAsync(id, _stopping.Token);
            then();
        }
        catch (Exception ex) when (ex is OperationCanceledException)
        {
            LogRecoveryFailed(id, ex);
        }
    }

    /// <summary>
    /// Becomes a session's arbiter: asks every other member for its copy and the lock it arbitrated, and keeps
    /// the newest. After it, no version any member holds is older than this node's.
    /// </summary>
    private async Task RecoverAsync(string id, MembershipView view)
    {
        await Task.Yield();
        try
        {
            Counters.Increment(ref Counters.Recoveries);
            var known = Table.TryGet(id, out var r) ? r.Version : 0;
            var unanswered = 0;
            var asks = view.Members.Where(m => m.NodeId != InstanceId).Select(async m =>
            {
                var callId = NextCallId();
                try
                {
                    var reply = await CallAsync(m.NodeId, callId, new Envelope { SyncRequest = new SyncRequest { RequestId = callId, SessionId = id, KnownVersion = known, TakeLock = true } }, _options.CommitTimeout, _stopping.Token);
                    return reply.SyncReply;
                }
                catch (MemberGoneException)
                {
                    return null;
                }
                catch (TimeoutException)
                {
                    // A live member that did not answer may hold the newest copy: this recovery does not count.
                    Interlocked.Increment(ref unanswered);
                    return null;
                }
            }).ToArray();
            var replies = await Task.WhenAll(asks);
            var now = _time.GetUtcNow();
            foreach (var reply in replies)
            {
                if (reply?.State is { Full: true } state)
                    Apply(state, state.Writer);
            }
            lock (_gate)
            {
                var st = GetLockState(id);
                foreach (var reply in replies)
                {
                    if (reply is null)
                        continue;
                    st.LastToken = Math.Max(st.LastToken, Math.Max(reply.LastToken, reply.Token));
                    var expires = DateTimeOffset.FromUnixTimeMilliseconds(reply.ExpiresMs);
                    if (reply.HasLock && _view.Contains(reply.Holder) && expires > now && (st.Holder is null || reply.Token > st.Token))
                    {
                        st.Holder = reply.Holder;
                        st.Token = reply.Token;
                        st.ExpiresAt = expires;
                    }
                }
                if (unanswered == 0)
                    st.ConfirmedInView = view.Id;
            }
            LogRecovered(id, Table.TryGet(id, out var after) ? after.Version : 0, replies.Count(x => x is not null));
        }
        finally
        {
            lock (_gate)
            {
                _recoveries.Remove(id);
            }
        }
    }

    private void RaiseReceivedOrRemoved(Update update, bool local)
    {
        var context = _context;
        if (context is null)
            return;
        try
        {
            var e = new SessionEventArgs(update.SessionId, update.Version, update.Writer);
            if (update.Removal && update.RemovalReason == (uint)SessionRemovalReason.Expired)
                context.OnRemoved(e, SessionRemovalReason.Expired);
            else if (update.Removal && !local)
                context.OnRemoved(e, SessionRemovalReason.Invalidated);
            else if (!update.Removal && !local)
                context.OnReceived(e);
        }
        catch (Exception ex)
        {
            LogEventHandlerFailed(update.SessionId, ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped a malformed store message from {Sender} ({Length} bytes)")]
    private partial void LogMalformed(string sender, int length);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handling a {Kind} message from {Sender} failed")]
    private partial void LogDispatchFailed(string kind, string sender, Exception ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "View {ViewId}: {Count} member(s) [{Members}], {Gone} gone")]
    private partial void LogViewChanged(long viewId, int count, string members, int gone);

    [LoggerMessage(Level = LogLevel.Information, Message = "Freed the lock on session {SessionId}: its holder {Holder} (token {Token}) left the view")]
    private partial void LogHolderLeft(string sessionId, string holder, long token);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Recovered session {SessionId} at version {Version} from {Replies} member(s)")]
    private partial void LogRecovered(string sessionId, long version, int replies);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recovering session {SessionId} did not complete")]
    private partial void LogRecoveryFailed(string sessionId, Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Announcing last-access times failed; the next flush retries")]
    private partial void LogTouchFailed(Exception ex);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Pruned removal tombstones at {Now}")]
    private partial void LogTombstonesPruned(DateTimeOffset now);

    [LoggerMessage(Level = LogLevel.Error, Message = "A session event handler threw for session {SessionId}")]
    private partial void LogEventHandlerFailed(string sessionId, Exception ex);
}
