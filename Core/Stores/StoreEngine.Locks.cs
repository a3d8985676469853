using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

// The arbiter: locks, leases, fencing tokens, and the commits it sequences.
internal sealed partial class StoreEngine
{
    private const int TokenViewShift = 24;

    private LockState GetLockState(string id)
    {
        if (!_locks.TryGetValue(id, out var st))
        {
            st = new LockState(id);
            _locks[id] = st;
        }
        return st;
    }

    /// <summary>Tokens only grow: above every token granted here, every token written, and every token an
    /// earlier arbiter (in an earlier view) could have granted.</summary>
    private long NextToken(LockState st, string id)
    {
        var written = Table.TryGet(id, out var r) ? r.Token : 0;
        var floor = (_view.Id + 1) << TokenViewShift;
        return Math.Max(Math.Max(st.LastToken, written) + 1, floor);
    }

    private SessionLock GrantLocked(LockState st, string holder, DateTimeOffset now, long version)
    {
        st.Holder = holder;
        st.Token = NextToken(st, st.Id);
        st.LastToken = st.Token;
        st.ExpiresAt = now + _options.LockLease;
        var granted = new SessionLock(st.Id, holder, st.Token, st.ExpiresAt, version);
        if (holder == InstanceId)
            _heldTokens[granted.SessionId] = granted.Token;
        return granted;
    }

    /// <summary>Grants, queues, or refuses a lock request at the arbiter. Null means queued.</summary>
    private LockReply? TryGrantLocked(string id, LockState st, string node, ulong requestId, long knownVersion, LockConflictPolicy policy, TaskCompletionSource<LockReply>? local)
    {
        var now = _time.GetUtcNow();
        ExpireLeaseLocked(id, st, now);
        Table.TryGet(id, out var record);
        if (st.IsFree)
        {
            if (record is null)
                return new LockReply { RequestId = requestId, SessionId = id, Status = LockStatus.NotFound };
            var granted = GrantLocked(st, node, now, record.Version);
            return new LockReply
            {
                RequestId = requestId,
                SessionId = id,
                Status = LockStatus.Granted,
                Token = granted.Token,
                ExpiresMs = granted.ExpiresAt.ToUnixTimeMilliseconds(),
                Version = record.Version,
                Holder = node,
                State = knownVersion < record.Version && node != InstanceId ? StoreCodec.ToFull(record) : null,
            };
        }
        if (policy == LockConflictPolicy.Wait)
        {
            Counters.Increment(ref Counters.LockWaits);
            st.Waiters.AddLast(new LockWaiter(node, requestId, knownVersion, local));
            return null;
        }
        Counters.Increment(ref Counters.LockConflicts);
        return new LockReply { RequestId = requestId, SessionId = id, Status = LockStatus.Held, Holder = st.Holder! };
    }

    private void ReleaseLocked(string id, LockState st, long token)
    {
        if (st.Holder is null || st.Token != token)
            return;
        if (st.Holder == InstanceId)
            _heldTokens.TryRemove(id, out _);
        st.Holder = null;
        GrantNextLocked(id, st);
    }

    private void GrantNextLocked(string id, LockState st)
    {
        while (st.IsFree && st.Waiters.First is { } first)
        {
            st.Waiters.RemoveFirst();
            var w = first.Value;
            var reply = TryGrantLocked(id, st, w.Node, w.RequestId, w.KnownVersion, LockConflictPolicy.Fail, w.Local);
            if (reply is null)
                continue;
            if (w.Local is not null)
                w.Local.TrySetResult(reply);
            else
                Reply(w.Node, new Envelope { LockReply = reply });
        }
    }

    private void ExpireLeaseLocked(string id, LockState st, DateTimeOffset now)
    {
        if (st.Holder is not null && now >= st.ExpiresAt)
        {
            LogLeaseExpired(id, st.Holder, st.Token);
            if (st.Holder == InstanceId)
                _heldTokens.TryRemove(id, out _);
            st.Holder = null;
        }
    }

    private void ExpireLeases(DateTimeOffset now)
    {
        lock (_gate)
        {
            foreach (var (id, st) in _locks)
            {
                if (st.Holder is not null && now >= st.ExpiresAt)
                {
                    ExpireLeaseLocked(id, st, now);
                    GrantNextLocked(id, st);
                }
            }
        }
    }

    /// <summary>Finds the arbiter and takes the lock; null when the session does not exist. A node that need not
    /// hold the session gets it with the grant (<c>Loaded</c>) and keeps it only for the request.</summary>
    private async Task<(SessionLock? Lock, SessionState? Loaded)> AcquireAsync(string id, CancellationToken cancellationToken)
    {
        var policy = _options.ConflictPolicy;
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var view = _view;
            var arbiter = ArbiterFor(id, view);
            // A node that need not hold the session asks for the whole of it with the grant: a copy it still has
            // may be dropped (trimmed) before the request reads it.
            var known = HoldsHere(id) && Table.TryGet(id, out var r) ? r.Version : 0;
            LockReply reply;
            try
            {
                reply = arbiter is null || arbiter.NodeId == InstanceId
                    ? await LockLocallyAsync(id, policy, known, cancellationToken)
                    : await RemoteLockAsync(arbiter, id, policy, known, cancellationToken);
            }
            catch (MemberGoneException)
            {
                continue;
            }

            switch (reply.Status)
            {
                case LockStatus.Granted:
                    SessionState? loaded = null;
                    if (reply.State is not null && HoldsHere(id))
                        Apply(reply.State, arbiter?.NodeId ?? InstanceId);
                    else if (reply.State is not null)
                        loaded = StoreCodec.Apply(null, reply.State);
                    _heldTokens[id] = reply.Token;
                    return (new SessionLock(id, InstanceId, reply.Token, DateTimeOffset.FromUnixTimeMilliseconds(reply.ExpiresMs), reply.Version), loaded);
                case LockStatus.NotFound:
                    return (null, null);
                case LockStatus.Held:
                    throw new SessionLockedException(id, reply.Holder, view.Find(reply.Holder)?.PublicAddress ?? string.Empty, policy);
                default:
                    // The arbiter is moving (a view change, a joining node catching up): try again shortly.
                    if (Stopwatch.GetElapsedTime(started) > _options.LockWaitTimeout)
                        throw new SessionLockedException(id, arbiter?.NodeId ?? string.Empty, arbiter?.PublicAddress ?? string.Empty, policy, "no node could arbitrate the lock in time");
                    await Task.Delay(TimeSpan.FromMilliseconds(10), cancellationToken);
                    break;
            }
        }
    }

    private async Task<LockReply> LockLocallyAsync(string id, LockConflictPolicy policy, long known, CancellationToken cancellationToken)
    {
        await EnsureArbitratingAsync(id, cancellationToken);
        TaskCompletionSource<LockReply>? waiter = null;
        lock (_gate)
        {
            if (!IsArbiter(id, _view) || !IsReady)
                return new LockReply { SessionId = id, Status = LockStatus.NotArbiter };
            var st = GetLockState(id);
            if (st.ConfirmedInView != _view.Id && NeedsRecovery(id, st))
                return new LockReply { SessionId = id, Status = LockStatus.NotArbiter };
            st.ConfirmedInView = _view.Id;
            if (policy == LockConflictPolicy.Wait)
                waiter = new TaskCompletionSource<LockReply>(TaskCreationOptions.RunContinuationsAsynchronously);
            var reply = TryGrantLocked(id, st, InstanceId, 0, known, policy, waiter);
            if (reply is not null)
                return reply;
        }
        return await WaitLocalAsync(id, waiter!, cancellationToken);
    }

    private async Task<LockReply> WaitLocalAsync(string id, TaskCompletionSource<LockReply> waiter, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.LockWaitTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken, _stopping.Token);
        try
        {
            return await waiter.Task.WaitAsync(linked.Token);
        }
        catch (OperationCanceledException)
        {
            lock (_gate)
            {
                if (waiter.Task.IsCompletedSuccessfully)
                    return waiter.Task.Result;
                if (_locks.TryGetValue(id, out var st))
                {
                    var node = st.Waiters.First;
                    while (node is not null && !ReferenceEquals(node.Value.Local, waiter))
                        node = node.Next;
                    if (node is not null)
                        st.Waiters.Remove(node);
                }
            }
            cancellationToken.ThrowIfCancellationRequested();
            var holder = _locks.TryGetValue(id, out var held) ? held.Holder ?? string.Empty : string.Empty;
            throw new SessionLockedException(id, holder, _view.Find(holder)?.PublicAddress ?? string.Empty, LockConflictPolicy.Wait, $"waited {_options.LockWaitTimeout.TotalSeconds:0.#} s");
        }
    }

    private async Task<LockReply> RemoteLockAsync(Member arbiter, string id, LockConflictPolicy policy, long known, CancellationToken cancellationToken)
    {
        var callId = NextCallId();
        var request = new Envelope { LockRequest = new LockRequest { RequestId = callId, SessionId = id, Policy = (uint)policy, KnownVersion = known } };
        var timeout = policy == LockConflictPolicy.Wait ? _options.LockWaitTimeout : _options.CommitTimeout;
        try
        {
            var reply = await CallAsync(arbiter.NodeId, callId, request, timeout, cancellationToken);
            return reply.LockReply ?? throw new InvalidOperationException("Unexpected reply to a lock request.");
        }
        catch (TimeoutException)
        {
            // Stop waiting at the arbiter; a grant already on its way is given back when it arrives.
            Send(arbiter.NodeId, new Envelope { LockCancel = new LockCancel { RequestId = callId, SessionId = id } });
            throw new SessionLockedException(id, string.Empty, string.Empty, policy, $"no grant within {timeout.TotalSeconds:0.#} s");
        }
    }

    private async Task ReleaseTokenAsync(string id, long token)
    {
        _heldTokens.TryRemove(id, out _);
        if (token == 0 || _options.Locking == LockingMode.None)
            return;
        var arbiter = ArbiterFor(id, _view);
        if (arbiter is null || arbiter.NodeId == InstanceId)
        {
            lock (_gate)
            {
                if (_locks.TryGetValue(id, out var st))
                    ReleaseLocked(id, st, token);
            }
            return;
        }
        try
        {
            await _channel.SendAsync(arbiter.NodeId, StoreCodec.Encode(new Envelope { Release = new Release { SessionId = id, Token = token } }));
        }
        catch (Exception ex) when (ex is InvalidOperationException or SendWindowFullException)
        {
            // The lease frees it; the arbiter also frees it when this node leaves.
            LogReleaseFailed(id, ex);
        }
    }

    /// <summary>Commits through the session's arbiter and waits for the write concern.</summary>
    private async Task<SessionState> CommitUpdateAsync(Update update, SessionState? loaded, bool release, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var view = _view;
            var arbiter = ArbiterFor(update.SessionId, view);
            if (arbiter is null || arbiter.NodeId == InstanceId)
            {
                await EnsureArbitratingAsync(update.SessionId, cancellationToken);
                CommitOutcome outcome;
                lock (_gate)
                {
                    if (!IsArbiter(update.SessionId, _view))
                        continue;
                    outcome = CommitLocked(update, release);
                }
                ThrowIfRefused(update, outcome);
                if (outcome.Replication is { } replication)
                    await replication.WaitAsync(cancellationToken);
                _heldTokens.TryRemove(update.SessionId, out _);
                RaiseReceivedOrRemoved(update, local: true);
                return outcome.Record ?? RemovedRecord(update);
            }

            CommitReply reply;
            var callId = NextCallId();
            try
            {
                var request = new Envelope { Commit = new Commit { RequestId = callId, Update = update, Release = release } };
                reply = (await CallAsync(arbiter.NodeId, callId, request, _options.CommitTimeout + _options.CommitTimeout, cancellationToken)).CommitReply
                    ?? throw new InvalidOperationException("Unexpected reply to a commit.");
            }
            catch (MemberGoneException)
            {
                // The arbiter left before answering: the next one recovers the newest copy; a commit it already
                // holds is recognised as a duplicate.
                if (Stopwatch.GetElapsedTime(started) > _options.CommitTimeout + _options.LockWaitTimeout)
                    throw new TimeoutException($"Commit of session '{update.SessionId}' found no arbiter in time.");
                continue;
            }
            if (reply.Error == "not_arbiter")
            {
                if (Stopwatch.GetElapsedTime(started) > _options.CommitTimeout + _options.LockWaitTimeout)
                    throw new TimeoutException($"Commit of session '{update.SessionId}' found no arbiter in time.");
                await Task.Delay(TimeSpan.FromMilliseconds(10), cancellationToken);
                continue;
            }
            _heldTokens.TryRemove(update.SessionId, out _);
            if (!reply.Accepted)
            {
                ThrowIfRefused(update, new CommitOutcome(reply.Error, reply.CurrentToken, null, null));
            }
            // A holder applies here at once: the arbiter's announcement may arrive after the next request on this node.
            var holds = HoldsHere(update.SessionId);
            if (holds)
                Apply(update, InstanceId);
            if (reply.Error == "acks")
                throw new TimeoutException($"Commit of session '{update.SessionId}' is applied but was not confirmed by {_options.ReplicationAcks} other member(s) within {_options.CommitTimeout.TotalSeconds:0.#} s.");
            if (holds && Table.TryGet(update.SessionId, out var committed))
                return committed;
            return update.Removal || loaded is null ? RemovedRecord(update) : StoreCodec.Apply(loaded, update);
        }
    }

    private static SessionState RemovedRecord(Update u) => new() { Id = u.SessionId, Version = u.Version, LastWriter = u.Writer };

    private void ThrowIfRefused(Update update, CommitOutcome outcome)
    {
        switch (outcome.Error)
        {
            case null or "" or "acks":
                return;
            case "too_large":
                throw new SessionTooLargeException(update.SessionId, outcome.CurrentToken, SessionOptions.MaxSessionBytes);
            default:
                Counters.Increment(ref Counters.RefusedStale);
                throw new LockLostException(update.SessionId, update.Token, outcome.CurrentToken);
        }
    }

    private sealed record CommitOutcome(string? Error, long CurrentToken, SessionState? Record, Task? Replication);

    /// <summary>Validates and applies a commit at the arbiter, and announces it. Under the gate.</summary>
    private CommitOutcome CommitLocked(Update update, bool release)
    {
        var id = update.SessionId;
        var st = GetLockState(id);
        Table.TryGet(id, out var record);
        var current = record?.Version ?? 0;
        var currentToken = Math.Max(st.LastToken, record?.Token ?? 0);

        if (_options.Locking == LockingMode.None)
        {
            // Without locks, concurrent deltas merge per attribute in the order the arbiter receives them.
            update.BaseVersion = current;
            update.Version = current + 1;
        }
        else if (record is not null && record.Version >= update.Version && record.LastWriter == update.Writer && record.Token == update.Token)
        {
            // A retried commit the arbiter already holds (the previous arbiter applied it before leaving).
            return new CommitOutcome(null, currentToken, record, null);
        }
        else
        {
            var holds = st.Holder == update.Writer && st.Token == update.Token;
            var unclaimed = st.IsFree && update.Token >= (record?.Token ?? 0) && (update.Token >= st.LastToken || st.LastToken == 0);
            if (!(holds || unclaimed) || update.BaseVersion != current)
            {
                LogStaleCommit(id, update.Writer, update.Token, currentToken);
                return new CommitOutcome("stale", currentToken, null, null);
            }
        }

        if (!update.Removal)
        {
            var size = StoreCodec.SizeAfter(record, update);
            if (size > SessionOptions.MaxSessionBytes)
            {
                if (release)
                    ReleaseLocked(id, st, update.Token);
                return new CommitOutcome("too_large", size, null, null);
            }
        }

        SessionState? applied = null;
        if (update.Removal)
        {
            RemoveLocked(id, update.Version);
        }
        else
        {
            applied = StoreCodec.Apply(record, update);
            Put(id, applied);
        }
        var replication = ReplicateLocked(update);
        if (release)
            ReleaseLocked(id, st, update.Token);
        return new CommitOutcome(null, currentToken, applied, replication);
    }

    private void RemoveLocked(string id, long version)
    {
        Drop(id);
        _touched.TryRemove(id, out _);
        _tombstones[id] = version;
        if (_locks.Remove(id, out var st))
        {
            foreach (var w in st.Waiters)
            {
                var gone = new LockReply { RequestId = w.RequestId, SessionId = id, Status = LockStatus.NotFound };
                if (w.Local is not null)
                    w.Local.TrySetResult(gone);
                else
                    Reply(w.Node, new Envelope { LockReply = gone });
            }
            st.Waiters.Clear();
        }
    }

    /// <summary>
    /// Hands a commit applied here to the members that hold the session, and returns the write concern: it
    /// completes once enough of them hold it (and, with durable commits, once it is on this node's disk). Under
    /// the gate, so every holder receives a session's commits in their order.
    /// </summary>
    private Task ReplicateLocked(Update update)
    {
        var disk = _options.DurableCommits && _disk is not null ? _disk.FlushAsync() : Task.CompletedTask;
        if (_placement.EveryNode)
            return WaitForBroadcastAcksAsync(_channel.BroadcastAsync(StoreCodec.Encode(new Envelope { Update = update })).AsTask(), disk);
        var calls = new List<Task<Envelope>>();
        foreach (var backup in _placement.Backups(update.SessionId, _view))
        {
            var callId = NextCallId();
            var message = new Envelope { Replicate = new Replicate { RequestId = callId, Updates = { update } } };
            calls.Add(CallAsync(backup.NodeId, callId, message, _options.CommitTimeout, _stopping.Token));
        }
        return WaitForReplicasAsync(calls, Math.Min(_options.ReplicationAcks, calls.Count), disk);
    }

    private async Task WaitForBroadcastAcksAsync(Task<long> broadcast, Task disk)
    {
        var sequence = await broadcast;
        var acks = RequiredAcks(_view);
        if (acks > 0)
        {
            using var timeout = new CancellationTokenSource(_options.CommitTimeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _stopping.Token);
            try
            {
                await _channel.WaitForAcksAsync(sequence, acks, linked.Token);
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                Counters.Increment(ref Counters.AckTimeouts);
                throw new TimeoutException($"The update is applied but was not confirmed by {acks} other member(s) within {_options.CommitTimeout.TotalSeconds:0.#} s.");
            }
        }
        await disk;
    }

    /// <summary>Ring: waits until <paramref name="required"/> backups acknowledged (fewer when backups left the view).</summary>
    private async Task WaitForReplicasAsync(List<Task<Envelope>> calls, int required, Task disk)
    {
        var pending = new List<Task<Envelope>>(calls);
        var acked = 0;
        while (acked < required && pending.Count > 0)
        {
            var done = await Task.WhenAny(pending);
            pending.Remove(done);
            try
            {
                await done;
                acked++;
            }
            catch (MemberGoneException)
            {
                required = Math.Min(required, acked + pending.Count);
            }
            catch (TimeoutException)
            {
                Counters.Increment(ref Counters.AckTimeouts);
                throw new TimeoutException($"The update is applied but was not confirmed by {required} backup(s) within {_options.CommitTimeout.TotalSeconds:0.#} s.");
            }
        }
        await disk;
    }

    /// <summary>Expiry is the acting owner's decision; the others follow its announcement.</summary>
    private bool ExpireIfOwner(string id)
    {
        if (!IsReady || !IsArbiter(id, _view))
            return false;
        var now = _time.GetUtcNow();
        Update removal;
        Task replication;
        lock (_gate)
        {
            if (!Table.TryGet(id, out var record) || !IsExpired(record, now))
                return false;
            if (_locks.TryGetValue(id, out var st))
            {
                ExpireLeaseLocked(id, st, now);
                if (!st.IsFree)
                    return false;
            }
            removal = new Update
            {
                SessionId = id,
                BaseVersion = record.Version,
                Version = record.Version + 1,
                Writer = InstanceId,
                Removal = true,
                RemovalReason = (uint)SessionRemovalReason.Expired,
            };
            RemoveLocked(id, removal.Version);
            replication = ReplicateLocked(removal);
        }
        _ = replication.ContinueWith(t => LogBroadcastFailed(id, t.Exception!), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        RaiseReceivedOrRemoved(removal, local: true);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Lock on session {SessionId} held by {Holder} (token {Token}) expired with its lease")]
    private partial void LogLeaseExpired(string sessionId, string holder, long token);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a commit to session {SessionId} from {Writer} under stale token {Token} (current {Current})")]
    private partial void LogStaleCommit(string sessionId, string writer, long token, long current);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not release the lock on session {SessionId}; its lease will")]
    private partial void LogReleaseFailed(string sessionId, Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Announcing a change to session {SessionId} failed")]
    private partial void LogBroadcastFailed(string sessionId, Exception ex);
}
