using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

// Locks: an exclusive find on the holder's side, lock requests at the arbiter, releases, lease expiry.
internal sealed partial class StoreNode
{
    private readonly ConcurrentDictionary<string, long> _held = new(StringComparer.Ordinal); // tokens this node's requests hold

    private long TokenFloor => LockArbiter.FirstTokenOf(_epoch.Epoch);

    private long RecordToken(string id) => Table.Get(id)?.Token ?? 0;

    public async Task<Session> CreateAsync(CancellationToken cancellationToken)
    {
        EnsureStarted();
        var epoch = await WaitServingAsync(cancellationToken);
        var ring = epoch.View.Find(InstanceId)?.RingIndex ?? Member.RingIndexOf(InstanceId);
        var state = SessionState.Create(SessionIds.New(ring), _time.GetUtcNow(), SessionOptions.IdleTimeout, InstanceId);
        // Nobody else can know a fresh id: the session needs no lock until its first commit creates it.
        return new Session(state, SessionAccess.Exclusive, held: null, isNew: true);
    }

    /// <summary>Finds the arbiter and takes the lock; null when the session does not exist. A node that need not hold the
    /// session gets the whole of it with the grant and keeps it only for the request.</summary>
    private async Task<Session?> FindExclusiveAsync(string id, CancellationToken cancellationToken)
    {
        var policy = _options.ConflictPolicy;
        var deadline = _time.GetUtcNow() + _options.LockWaitTimeout + _options.CommitTimeout;
        var backoff = new Backoff(_time);
        while (true)
        {
            var epoch = await WaitServingAsync(cancellationToken);
            var view = epoch.View;
            var arbiter = ReplicationStrategy.ArbiterOf(id, view);
            var holds = HoldsHere(id, view);
            var mine = holds ? Table.Get(id) : null;
            if (arbiter is null)
                return null;
            if (arbiter.NodeId == InstanceId)
            {
                var decision = await LockLocallyAsync(id, (ConflictPolicy)policy, cancellationToken);
                if (decision is null)
                    return null;
                if (decision.IsGranted)
                {
                    if (Table.Get(id) is { } state)
                        return Granted(id, state, decision.Token, decision.ExpiresAt);
                    await ReleaseTokenAsync(id, decision.Token);
                    return null;
                }
                if (decision.Holder.Length > 0)
                    throw Locked(id, decision.Holder, view, policy);
            }
            else
            {
                var reply = await RemoteLockAsync(arbiter.NodeId, id, (ConflictPolicy)policy, mine, cancellationToken);
                switch (reply?.Status)
                {
                    case LockStatus.Granted:
                        var state = TakeGranted(id, reply, holds);
                        if (state is not null)
                            return Granted(id, state, reply.Token, DateTimeOffset.FromUnixTimeMilliseconds(reply.ExpiresMs));
                        // Our copy was dropped between asking and the grant: give it back and ask for the whole session.
                        await ReleaseTokenAsync(id, reply.Token);
                        break;
                    case LockStatus.Held:
                        throw Locked(id, reply.Holder, view, policy);
                    case LockStatus.NotFound:
                        return null;
                }
            }
            if (_time.GetUtcNow() > deadline)
                throw new ClusterUnavailableException(ClusterStoreStatus.Joining, $"No node could arbitrate the lock of session '{id}' in time.", RetryAfter);
            await backoff.WaitAsync(cancellationToken);
        }
    }

    private Session Granted(string id, SessionState state, long token, DateTimeOffset expires)
    {
        _held[id] = token;
        Touch(id, _time.GetUtcNow().ToUnixTimeMilliseconds());
        return new Session(state, SessionAccess.Exclusive, new SessionLock(id, InstanceId, token, expires, state.Version));
    }

    private SessionState? TakeGranted(string id, LockReply reply, bool holds)
    {
        if (reply.Copy is { } copy)
        {
            if (!holds)
                return StoreCodec.FromCopy(copy);
            lock (_gate)
                Applier.ApplyCopy(copy, authoritative: false, _epoch.Epoch);
        }
        return Table.Get(id) is { } held && held.Version >= reply.Version ? held : reply.Copy is { } c ? StoreCodec.FromCopy(c) : null;
    }

    private SessionLockedException Locked(string id, string holder, MembershipView view, LockConflictPolicy policy)
    {
        Counters.AddLockConflict();
        return new SessionLockedException(id, holder, view.Find(holder)?.PublicAddress ?? string.Empty, policy);
    }

    /// <summary>This node arbitrates the session: grant, refuse, or wait (woken by the release). Null: not found;
    /// <see cref="LockDecision.Retry"/>: the arbiter moved or is recovering the session.</summary>
    private async Task<LockDecision?> LockLocallyAsync(string id, ConflictPolicy policy, CancellationToken cancellationToken)
    {
        TaskCompletionSource<LockDecision>? waiter = null;
        Task? recovering = null;
        lock (_gate)
        {
            var epoch = _epoch;
            if (!epoch.Serving || !IsArbiter(id, _view))
                return LockDecision.Retry;
            if (epoch.Reconciliation is { } r && r.Blocks(id))
            {
                recovering = r.Recovered.Task;
            }
            else
            {
                if (!Table.Contains(id))
                    return null;
                if (policy == ConflictPolicy.Wait)
                    waiter = new TaskCompletionSource<LockDecision>(TaskCreationOptions.RunContinuationsAsynchronously);
                var decision = _locks.Acquire(id, new LockWaiter(id, InstanceId, 0, 0, waiter), policy, RecordToken(id), TokenFloor);
                if (decision is not null)
                    return decision;
                Counters.AddLockWait();
            }
        }
        if (recovering is not null)
        {
            await WaitRecoveredAsync(recovering, cancellationToken);
            return LockDecision.Retry;
        }
        try
        {
            var decision = await waiter!.Task.WaitAsync(_options.LockWaitTimeout, _time, cancellationToken);
            return ReferenceEquals(decision, LockDecision.Gone) ? null : decision;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            lock (_gate)
            {
                if (waiter!.Task.IsCompletedSuccessfully && waiter.Task.Result.IsGranted)
                    return waiter.Task.Result; // granted just as the wait ended
                _locks.Cancel(id, waiter);
            }
            cancellationToken.ThrowIfCancellationRequested();
            var holder = _locks.HolderOf(id) ?? string.Empty;
            throw new SessionLockedException(id, holder, _view.Find(holder)?.PublicAddress ?? string.Empty, LockConflictPolicy.Wait, $"waited {_options.LockWaitTimeout.TotalSeconds:0.#} s");
        }
    }

    private async Task WaitRecoveredAsync(Task recovering, CancellationToken cancellationToken)
    {
        try
        {
            await recovering.WaitAsync(_options.LockWaitTimeout, _time, cancellationToken);
        }
        catch (Exception ex) when (ex is TimeoutException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            // The view changed (or the recovery is slow): the caller asks again.
        }
    }

    private async Task<LockReply?> RemoteLockAsync(string arbiter, string id, ConflictPolicy policy, SessionState? mine, CancellationToken cancellationToken)
    {
        var callId = _calls.NextId();
        var request = new Envelope { LockRequest = new LockRequest { RequestId = callId, SessionId = id, Policy = policy, KnownVersion = mine?.Version ?? 0, KnownEpoch = mine?.Epoch ?? 0 } };
        var timeout = policy == ConflictPolicy.Wait ? _options.LockWaitTimeout + _options.CommitTimeout : _options.CommitTimeout;
        try
        {
            var reply = await _calls.CallAsync(arbiter, callId, request, timeout, cancellationToken);
            return reply.LockReply;
        }
        catch (MemberGoneException)
        {
            return null;
        }
        catch (TimeoutException)
        {
            // Stop waiting at the arbiter; a grant already on its way is given back when it arrives.
            Send(arbiter, new Envelope { LockCancel = new LockCancel { RequestId = callId, SessionId = id } });
            throw new SessionLockedException(id, string.Empty, string.Empty, (LockConflictPolicy)policy, $"no grant within {timeout.TotalSeconds:0.#} s");
        }
    }

    private void OnLockReply(string from, LockReply reply, Envelope message)
    {
        if (!_calls.Complete(reply.RequestId, from, message) && reply.Status == LockStatus.Granted)
        {
            // A grant for a request that gave up waiting: give it straight back.
            Send(from, new Envelope { LockRelease = new LockRelease { SessionId = reply.SessionId, Token = reply.Token } });
        }
    }

    /// <summary>A lock request at this node as the session's arbiter (receive thread).</summary>
    private void OnLockRequest(string from, LockRequest request)
    {
        var id = request.SessionId;
        LockReply reply;
        var stalled = StallSuspected();
        lock (_gate)
        {
            var epoch = _epoch;
            if (!epoch.Serving || !IsArbiter(id, _view) || epoch.Reconciliation?.Blocks(id) == true || stalled && RefuseUntilConfirmed(epoch))
            {
                reply = new LockReply { RequestId = request.RequestId, SessionId = id, Status = epoch.Decision is { IsPrimary: false } ? LockStatus.Unavailable : LockStatus.NotArbiter };
            }
            else if (Table.Get(id) is not { } state)
            {
                reply = new LockReply { RequestId = request.RequestId, SessionId = id, Status = LockStatus.NotFound };
            }
            else
            {
                var waiter = new LockWaiter(id, from, request.RequestId, request.KnownVersion, null);
                var decision = _locks.Acquire(id, waiter, request.Policy, state.Token, TokenFloor);
                if (decision is null)
                {
                    Counters.AddLockWait();
                    return;
                }
                if (!decision.IsGranted)
                    Counters.AddLockConflict();
                reply = ReplyFor(id, waiter, decision, state, request.KnownEpoch);
            }
        }
        Send(from, new Envelope { LockReply = reply });
    }

    private LockReply ReplyFor(string id, LockWaiter waiter, LockDecision decision, SessionState state, long knownEpoch = -1) => decision.IsGranted
        ? new LockReply
        {
            RequestId = waiter.RequestId,
            SessionId = id,
            Status = LockStatus.Granted,
            Token = decision.Token,
            ExpiresMs = decision.ExpiresAt.ToUnixTimeMilliseconds(),
            Holder = waiter.Node,
            Version = state.Version,
            Copy = waiter.KnownVersion < state.Version || (knownEpoch >= 0 && knownEpoch != state.Epoch) || waiter.KnownVersion == 0 ? StoreCodec.ToCopy(state) : null,
        }
        : new LockReply { RequestId = waiter.RequestId, SessionId = id, Status = LockStatus.Held, Holder = decision.Holder };

    /// <summary>Hands the arbiter's decisions to their waiters (local ones complete, remote ones get a reply). Under the gate.</summary>
    private void Deliver(List<(LockWaiter Waiter, LockDecision Decision)> decisions)
    {
        foreach (var (waiter, decision) in decisions)
        {
            if (waiter.Local is not null)
            {
                waiter.Local.TrySetResult(decision);
                continue;
            }
            var reply = Table.Get(waiter.SessionId) is { } state
                ? ReplyFor(waiter.SessionId, waiter, decision, state)
                : new LockReply { RequestId = waiter.RequestId, SessionId = waiter.SessionId, Status = LockStatus.NotFound };
            Send(waiter.Node, new Envelope { LockReply = reply });
        }
    }

    /// <summary>Tells a waiter it must ask elsewhere (or that the session is gone). Under the gate.</summary>
    private void DeliverRefusal(LockWaiter waiter, string id, LockStatus status)
    {
        if (waiter.Local is not null)
            waiter.Local.TrySetResult(status == LockStatus.NotFound ? LockDecision.Gone : LockDecision.Retry);
        else
            Send(waiter.Node, new Envelope { LockReply = new LockReply { RequestId = waiter.RequestId, SessionId = id, Status = status } });
    }

    public async Task ReleaseAsync(Session session, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (!session.MarkCompleted())
            return;
        if (session.Lock is { } held)
            await ReleaseTokenAsync(session.Id, held.Token);
    }

    private Task ReleaseTokenAsync(string id, long token)
    {
        _held.TryRemove(id, out _);
        if (token == 0 || _options.Locking == LockingMode.None)
            return Task.CompletedTask;
        var arbiter = ReplicationStrategy.ArbiterOf(id, _view);
        if (arbiter is null || arbiter.NodeId == InstanceId)
        {
            lock (_gate)
                Deliver(_locks.Release(id, InstanceId, token, RecordToken(id), TokenFloor));
            return Task.CompletedTask;
        }
        // The lease frees it if this is lost; the arbiter also frees it when this node leaves.
        Send(arbiter.NodeId, new Envelope { LockRelease = new LockRelease { SessionId = id, Token = token } });
        return Task.CompletedTask;
    }

    private void OnLockRelease(string from, LockRelease release)
    {
        lock (_gate)
            Deliver(_locks.Release(release.SessionId, from, release.Token, RecordToken(release.SessionId), TokenFloor));
    }

    private void OnLockCancel(string from, LockCancel cancel)
    {
        lock (_gate)
            _locks.Cancel(cancel.SessionId, from, cancel.RequestId);
    }

    private void ExpireLeases()
    {
        lock (_gate)
        {
            if (_locks.Count > 0)
                Deliver(_locks.ExpireLeases(RecordToken, TokenFloor));
        }
    }

    /// <summary>Small, growing pauses between retries (on the store's clock).</summary>
    private sealed class Backoff(TimeProvider time)
    {
        private TimeSpan _next = TimeSpan.FromMilliseconds(2);

        public async Task WaitAsync(CancellationToken cancellationToken)
        {
            var wait = _next;
            _next = TimeSpan.FromTicks(Math.Min(_next.Ticks * 2, TimeSpan.FromMilliseconds(100).Ticks));
            await Task.Delay(wait, time, cancellationToken);
        }
    }
}
