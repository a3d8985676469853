using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

// The commit path, on all three sides:
//   holder   — CommitAsync builds the delta and sends it to the session's arbiter (or submits it here), and, when the
//              arbiter changed before answering, asks the next arbiter what became of it (OutcomeRequest);
//   arbiter  — SubmitCommitLocked checks the fencing token and the base, sequences the version in the current epoch,
//              sends it to the replicas and waits for the write concern; CompleteLocked applies it here, releases the
//              lock and answers. The write concern follows the view: a member that leaves or is removed no longer
//              counts, an epoch change re-sends what is in flight, and a member that never acknowledges stops counting
//              after the commit timeout.
//   replica  — OnReplicate applies it in version order (fetching the base when a delta comes first) and acknowledges
//              only what it applied, and only when the arbiter's epoch is not older than its own.
// An arbiter applies a commit to its own table only once the write concern is met, so nothing it serves was ever
// refused, and a refusal (503/409) always means "not applied".
internal sealed partial class StoreNode
{
    private readonly Dictionary<string, PendingCommit> _inFlight = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, PendingCommit> _replications = [];
    private readonly Dictionary<string, Queue<(CommitRequestInfo Request, TaskCompletionSource<CommitResult> Done)>> _queued = new(StringComparer.Ordinal);
    private readonly Dictionary<ulong, DeferredAck> _deferredAcks = [];

    /// <summary>A commit as the arbiter received it.</summary>
    private sealed record CommitRequestInfo(SessionDelta Delta, bool Release, string Writer);

    /// <summary>What became of a commit at its arbiter.</summary>
    private readonly record struct CommitResult(CommitStatus Status, long Version, long Epoch, long Detail, SessionState? State)
    {
        /// <summary>The arbiter lost its epoch after sending it: it may or may not be applied; ask the next arbiter.</summary>
        public bool InDoubt { get; init; }
    }

    /// <summary>A commit the arbiter sent to the replicas and that waits for its write concern. Under the gate.</summary>
    private sealed class PendingCommit
    {
        public required SessionDelta Delta { get; set; }
        public required SessionState? Base { get; init; }
        public required CommitRequestInfo Request { get; init; }
        public required TaskCompletionSource<CommitResult> Done { get; init; }
        public ulong ReplicationId { get; set; }
        public HashSet<string> Eligible { get; set; } = new(StringComparer.Ordinal);
        public HashSet<string> Acked { get; } = new(StringComparer.Ordinal);
        public int Required { get; set; }
        public DateTimeOffset Sent { get; set; }
        public DateTimeOffset LastSent { get; set; }
        public string Id => Delta.Id;
    }

    /// <summary>A replica's acknowledgement that waits until a parked delta is applied.</summary>
    private sealed record DeferredAck(string Arbiter, ulong ReplicationId, long Epoch, List<SessionDelta> Deltas);

    public async Task CommitAsync(Session session, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        EnsureStarted();
        if (session.IsCompleted)
            throw new InvalidOperationException($"Session '{session.Id}' was already committed or released in this request.");
        if (session.Access != SessionAccess.Exclusive)
        {
            session.MarkCompleted();
            return;
        }
        if (!session.IsChanged && !session.IsNew && !SessionOptions.AlwaysSave)
        {
            await ReleaseAsync(session, cancellationToken);
            return;
        }
        session.MarkCompleted();
        var token = session.Lock?.Token ?? 0;
        var delta = StoreCodec.FromSession(session, InstanceId, token, NewCommitId(), _time.GetUtcNow());
        var size = StoreCodec.SizeAfter(session.State, delta);
        if (size > SessionOptions.MaxSessionBytes)
        {
            await ReleaseTokenAsync(session.Id, token);
            throw new SessionTooLargeException(session.Id, size, SessionOptions.MaxSessionBytes);
        }
        try
        {
            var committed = await CommitThroughArbiterAsync(delta, release: session.Lock is not null, cancellationToken);
            session.MarkCommitted(committed ?? session.State.Apply(session.Changes, delta.Version, InstanceId, token, _time.GetUtcNow()));
        }
        finally
        {
            _held.TryRemove(session.Id, out _);
        }
    }

    public async Task<bool> RemoveAsync(string id, SessionRemovalReason reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        EnsureStarted();
        if (reason == SessionRemovalReason.Expired)
            return ExpireIfArbiter(id);
        var epoch = await WaitServingAsync(cancellationToken);
        var token = _held.TryRemove(id, out var t) ? t : 0;
        var state = HoldsHere(id, epoch.View) ? Table.Get(id) : await ReadFromArbiterAsync(id, null, cancellationToken);
        if (state is null)
        {
            await ReleaseTokenAsync(id, token);
            return false; // created in this request and never committed, or removed already
        }
        var removal = new SessionDelta
        {
            Id = id,
            BaseVersion = state.Version,
            Version = state.Version + 1,
            Token = token,
            Writer = InstanceId,
            CommitId = NewCommitId(),
            Removal = true,
            RemovalReason = RemovalReason.Invalidated,
        };
        await CommitThroughArbiterAsync(removal, release: token != 0, cancellationToken);
        return true;
    }

    private static ulong NewCommitId()
    {
        Span<byte> bytes = stackalloc byte[8];
        ulong id;
        do
        {
            RandomNumberGenerator.Fill(bytes);
            id = BitConverter.ToUInt64(bytes);
        }
        while (id == 0);
        return id;
    }

    /// <summary>
    /// Holder: the commit goes to the session's current arbiter until one answers. A refusal before sequencing is
    /// retried (the arbiter was moving); when the arbiter changed after the commit may have been sent, the next arbiter
    /// (after its recovery) says whether it was applied, and if not the commit is submitted again under the same id.
    /// </summary>
    /// <returns>The committed state, when this node holds it.</returns>
    private async Task<SessionState?> CommitThroughArbiterAsync(SessionDelta delta, bool release, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + _options.CommitTimeout + _options.CommitTimeout + _options.LockWaitTimeout;
        var backoff = new Backoff(_time);
        var inDoubt = false;
        while (true)
        {
            EpochState epoch;
            try
            {
                epoch = await WaitServingAsync(cancellationToken);
            }
            catch (ClusterUnavailableException) when (inDoubt)
            {
                // It may have been applied: "not applied" would be a lie. Wait for the primary to learn the outcome.
                if (_time.GetUtcNow() > deadline)
                    throw InDoubt(delta);
                await backoff.WaitAsync(cancellationToken);
                continue;
            }
            var arbiter = ReplicationStrategy.ArbiterOf(delta.Id, epoch.View)?.NodeId;
            CommitResult result;
            if (arbiter is null)
            {
                result = new CommitResult(CommitStatus.NotArbiter, 0, 0, 0, null);
            }
            else if (inDoubt)
            {
                Counters.AddOutcomeQuery();
                var outcome = await AskOutcomeAsync(arbiter, delta, cancellationToken);
                if (outcome == CommitOutcome.Applied)
                {
                    LogOutcome(delta.Id, delta.CommitId, "applied");
                    return Table.Get(delta.Id);
                }
                result = new CommitResult(CommitStatus.NotArbiter, 0, 0, 0, null);
                if (outcome == CommitOutcome.NotApplied)
                {
                    LogOutcome(delta.Id, delta.CommitId, "not applied; submitting it again");
                    inDoubt = false;
                    continue;
                }
            }
            else if (arbiter == InstanceId)
            {
                var done = new TaskCompletionSource<CommitResult>(TaskCreationOptions.RunContinuationsAsynchronously);
                lock (_gate)
                    SubmitCommitLocked(new CommitRequestInfo(Clone(delta), release, InstanceId), done);
                try
                {
                    var left = deadline - _time.GetUtcNow();
                    result = await done.Task.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, _time, cancellationToken);
                }
                catch (TimeoutException)
                {
                    // Still waiting for its write concern (members that neither acknowledge nor leave): it may yet apply.
                    result = new CommitResult(CommitStatus.Applied, 0, 0, 0, null) { InDoubt = true };
                }
            }
            else
            {
                result = await SubmitRemoteAsync(arbiter, delta, release, cancellationToken);
            }

            switch (result.Status)
            {
                case CommitStatus.Applied when !result.InDoubt:
                    return arbiter == InstanceId ? result.State : ApplyOwnCommit(delta, result);
                case CommitStatus.StaleToken:
                    Counters.AddRefusedStale();
                    throw new LockLostException(delta.Id, delta.Token, result.Detail);
                case CommitStatus.TooLarge:
                    throw new SessionTooLargeException(delta.Id, result.Detail, SessionOptions.MaxSessionBytes);
                case CommitStatus.NotFound:
                    throw new LockLostException($"Session '{delta.Id}' was removed before this commit; nothing was changed.");
            }
            if (result.InDoubt)
                inDoubt = true;
            if (_time.GetUtcNow() > deadline)
            {
                if (!inDoubt)
                    throw new ClusterUnavailableException(ClusterStoreStatus.Joining, $"No node could sequence the commit of session '{delta.Id}' in time; nothing was applied.", RetryAfter);
                throw InDoubt(delta);
            }
            await backoff.WaitAsync(cancellationToken);
        }
    }

    private CommitInDoubtException InDoubt(SessionDelta delta)
    {
        Counters.AddInDoubt();
        return new CommitInDoubtException(delta.Id, $"The arbiter of session '{delta.Id}' changed while committing and the new one could not say in time whether the change was applied.");
    }

    private static SessionDelta Clone(SessionDelta d) => new()
    {
        Id = d.Id,
        BaseVersion = d.BaseVersion,
        Version = d.Version,
        Epoch = d.Epoch,
        Token = d.Token,
        Writer = d.Writer,
        CommitId = d.CommitId,
        Set = d.Set,
        RemovedKeys = d.RemovedKeys,
        LastAccessMs = d.LastAccessMs,
        IdleTimeoutMs = d.IdleTimeoutMs,
        IsNew = d.IsNew,
        CreatedMs = d.CreatedMs,
        Removal = d.Removal,
        RemovalReason = d.RemovalReason,
    };

    private async Task<CommitResult> SubmitRemoteAsync(string arbiter, SessionDelta delta, bool release, CancellationToken cancellationToken)
    {
        if (!_view.Contains(arbiter))
            return new CommitResult(CommitStatus.NotArbiter, 0, 0, 0, null);
        var callId = _calls.NextId();
        try
        {
            var request = new Envelope { CommitRequest = new CommitRequest { RequestId = callId, Delta = delta, Release = release } };
            var reply = (await _calls.CallAsync(arbiter, callId, request, _options.CommitTimeout + _options.CommitTimeout, cancellationToken)).CommitReply!;
            return new CommitResult(reply.Status, reply.Version, reply.Epoch, reply.Detail, null);
        }
        catch (MemberGoneException ex) when (!ex.Sent)
        {
            // Never sent: the arbiter cannot have sequenced it. Not applied; ask the next arbiter.
            return new CommitResult(CommitStatus.NotArbiter, 0, 0, 0, null);
        }
        catch (Exception ex) when (ex is MemberGoneException or TimeoutException)
        {
            // Sent, and no answer: the arbiter may have sequenced it.
            return new CommitResult(CommitStatus.Applied, 0, 0, 0, null) { InDoubt = true };
        }
    }

    /// <summary>A holder applies its own commit at once: the arbiter's copy to the replicas may arrive after the next
    /// request on this node.</summary>
    private SessionState? ApplyOwnCommit(SessionDelta delta, CommitResult result)
    {
        if (!HoldsHere(delta.Id, _view))
            return null;
        var applied = Clone(delta);
        applied.Version = result.Version;
        applied.BaseVersion = result.Version - 1;
        applied.Epoch = result.Epoch;
        lock (_gate)
            Applier.ApplyDelta(applied, InstanceId);
        return Table.Get(delta.Id) is { } state && state.Version >= result.Version ? state : null;
    }

    private async Task<CommitOutcome> AskOutcomeAsync(string arbiter, SessionDelta delta, CancellationToken cancellationToken)
    {
        if (arbiter == InstanceId)
        {
            lock (_gate)
                return OutcomeLocked(delta.Id, delta.CommitId, delta.Version);
        }
        var callId = _calls.NextId();
        try
        {
            var request = new Envelope { OutcomeRequest = new OutcomeRequest { RequestId = callId, SessionId = delta.Id, CommitId = delta.CommitId, Version = delta.Version } };
            return (await _calls.CallAsync(arbiter, callId, request, _options.CommitTimeout, cancellationToken)).OutcomeReply!.Outcome;
        }
        catch (Exception ex) when (ex is MemberGoneException or TimeoutException)
        {
            return CommitOutcome.Unknown;
        }
    }

    private void OnOutcomeRequest(string from, OutcomeRequest request)
    {
        CommitOutcome outcome;
        lock (_gate)
            outcome = OutcomeLocked(request.SessionId, request.CommitId, request.Version);
        Send(from, new Envelope { OutcomeReply = new OutcomeReply { RequestId = request.RequestId, Outcome = outcome } });
    }

    /// <summary>
    /// Whether a commit reached this arbiter's (recovered) state. Final once answered: the recovery asked every member,
    /// and members now refuse the earlier epoch's updates. A create that was not applied leaves a tombstone so that no
    /// copy of it a cut-off member may still hold comes back. Under the gate.
    /// </summary>
    private CommitOutcome OutcomeLocked(string id, ulong commitId, long version)
    {
        var epoch = _epoch;
        if (!epoch.Serving || !IsArbiter(id, _view) || epoch.Reconciliation?.Blocks(id) != false || _inFlight.ContainsKey(id))
            return CommitOutcome.Unknown;
        var state = Table.Get(id);
        var dead = Applier.TombstoneOf(id);
        var recent = state?.RecentCommits ?? dead?.RecentCommits ?? [];
        if (Array.IndexOf(recent, commitId) >= 0)
            return CommitOutcome.Applied;
        var current = state?.Version ?? dead?.Version ?? 0;
        if (recent.Length >= StoreCodec.RecentCommitCount && current - version >= StoreCodec.RecentCommitCount - 1)
            return CommitOutcome.Unknown; // too many commits since: no longer remembered
        if (state is null && dead is null)
        {
            Applier.Remove(id, epoch.Epoch, version, []);
            _replication.Send(_channel, _replication.Replicas(id, _view), StoreCodec.Encode(new Envelope
            {
                Replicate = new Replicate
                {
                    Epoch = epoch.Epoch,
                    Deltas = [new SessionDelta { Id = id, BaseVersion = version - 1, Version = version, Epoch = epoch.Epoch, Writer = InstanceId, Removal = true }],
                },
            }), Observe);
        }
        return CommitOutcome.NotApplied;
    }

    /// <summary>A commit from a holder elsewhere (receive thread); answered once its write concern is met.</summary>
    /// <remarks>The answer is sent by whichever thread completes the commit (the receive thread that counted the last
    /// acknowledgement, the timer, a view change): its continuation is one send, so it runs there synchronously rather
    /// than waiting for a thread-pool thread to wake up.</remarks>
    private void OnCommitRequest(string from, CommitRequest request)
    {
        var done = new TaskCompletionSource<CommitResult>();
        lock (_gate)
            SubmitCommitLocked(new CommitRequestInfo(request.Delta, request.Release, from), done);
        if (done.Task.IsCompleted)
            ReplyCommit(from, request, done.Task.Result);
        else
            _ = done.Task.ContinueWith(t => ReplyCommit(from, request, t.Result), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private void ReplyCommit(string to, CommitRequest request, CommitResult result)
    {
        if (result.InDoubt)
            return; // no answer: the holder asks the next arbiter
        Send(to, new Envelope
        {
            CommitReply = new CommitReply { RequestId = request.RequestId, SessionId = request.Delta.Id, Status = result.Status, Version = result.Version, Epoch = result.Epoch, Detail = result.Detail },
        });
    }

    /// <summary>Arbiter: validates and sequences a commit and sends it to the replicas. Under the gate.</summary>
    private void SubmitCommitLocked(CommitRequestInfo request, TaskCompletionSource<CommitResult> done)
    {
        var d = request.Delta;
        var id = d.Id;
        var epoch = _epoch;
        if (!epoch.Serving || !IsArbiter(id, _view) || epoch.Reconciliation?.Blocks(id) != false || Volatile.Read(ref _stopped) != 0)
        {
            var status = epoch.Decision is { IsPrimary: false } || Volatile.Read(ref _stopped) != 0 ? CommitStatus.Unavailable : CommitStatus.NotArbiter;
            done.TrySetResult(new CommitResult(status, 0, 0, 0, null));
            return;
        }
        if (_inFlight.ContainsKey(id))
        {
            // One commit per session in flight: the next one's base is the one before it.
            if (!_queued.TryGetValue(id, out var queue))
                _queued[id] = queue = new();
            queue.Enqueue((request, done));
            return;
        }
        var current = Table.Get(id);
        var dead = Applier.TombstoneOf(id);
        // A commit retried after a failover that the arbiter already holds.
        if (d.CommitId != 0 && Array.IndexOf(current?.RecentCommits ?? dead?.RecentCommits ?? [], d.CommitId) >= 0)
        {
            if (request.Release && current is not null)
                Deliver(_locks.Release(id, request.Writer, d.Token, current.Token, TokenFloor));
            done.TrySetResult(new CommitResult(CommitStatus.Applied, current?.Version ?? dead!.Version, current?.Epoch ?? dead!.Epoch, 0, current));
            return;
        }
        if (current is null && (!d.IsNew || dead is not null))
        {
            done.TrySetResult(new CommitResult(CommitStatus.NotFound, 0, 0, 0, null));
            return;
        }
        if (_options.Locking == LockingMode.None)
        {
            // No locks: concurrent deltas merge per attribute in the order this arbiter receives them.
            d.BaseVersion = current?.Version ?? 0;
            d.IsNew = current is null;
        }
        else if (current is not null)
        {
            var check = d.Removal && d.Token == 0
                ? (_locks.HolderOf(id) is null ? LockCheck.Unclaimed : LockCheck.Stale(current.Token))
                : _locks.Check(id, request.Writer, d.Token, current.Token);
            if (!check.Allowed || d.BaseVersion != current.Version || d.IsNew)
            {
                LogStaleCommit(id, request.Writer, d.Token, check.CurrentToken);
                // The writer holds the lock but wrote on a stale copy: the commit is refused, and a releasing commit
                // still releases, or the session stays locked until the lease runs out.
                if (request.Release && check.Allowed)
                    Deliver(_locks.Release(id, request.Writer, d.Token, current.Token, TokenFloor));
                done.TrySetResult(new CommitResult(CommitStatus.StaleToken, 0, 0, Math.Max(check.CurrentToken, current.Token), null));
                return;
            }
        }
        var size = StoreCodec.SizeAfter(current, d);
        if (size > SessionOptions.MaxSessionBytes)
        {
            if (request.Release)
                Deliver(_locks.Release(id, request.Writer, d.Token, current?.Token ?? 0, TokenFloor));
            done.TrySetResult(new CommitResult(CommitStatus.TooLarge, 0, 0, size, null));
            return;
        }
        d.Version = (current?.Version ?? 0) + 1;
        d.BaseVersion = current?.Version ?? 0;
        d.Epoch = epoch.Epoch;
        var pending = new PendingCommit { Delta = d, Base = current, Request = request, Done = done };
        _inFlight[id] = pending;
        SendPendingLocked(pending);
    }

    /// <summary>Sends (or re-sends, after an epoch change) a pending commit to the session's replicas. Under the gate.</summary>
    private void SendPendingLocked(PendingCommit pending)
    {
        var replicas = _replication.Replicas(pending.Id, _view);
        pending.Eligible = replicas.Where(r => _ready.Contains(r.NodeId)).Select(r => r.NodeId).ToHashSet(StringComparer.Ordinal);
        pending.Acked.IntersectWith(pending.Eligible);
        pending.Required = _replication.RequiredAcks(_options, pending.Eligible.Count);
        pending.Sent = pending.LastSent = _time.GetUtcNow();
        _replications.Remove(pending.ReplicationId);
        pending.ReplicationId = _calls.NextId();
        _replications[pending.ReplicationId] = pending;
        var message = new Replicate { ReplicationId = pending.ReplicationId, Epoch = pending.Delta.Epoch, Deltas = [pending.Delta], AckRequested = pending.Required > 0 };
        LogCommitSent(pending.Id, pending.Delta.Version, pending.Delta.Epoch, pending.ReplicationId, string.Join(",", replicas), pending.Required);
        _replication.Send(_channel, replicas, StoreCodec.Encode(new Envelope { Replicate = message }), Observe);
        if (pending.Acked.Count >= pending.Required)
            CompleteLocked(pending);
    }

    /// <summary>The write concern is met: apply here, release the lock, answer, start the next queued commit. Under the gate.</summary>
    private void CompleteLocked(PendingCommit pending)
    {
        var d = pending.Delta;
        var id = d.Id;
        _inFlight.Remove(id);
        _replications.Remove(pending.ReplicationId);
        SessionState? result = null;
        if (d.Removal)
        {
            Applier.Remove(id, d.Epoch, d.Version, StoreCodec.AppendCommit(pending.Base?.RecentCommits ?? [], d.CommitId));
            _touched.TryRemove(id, out _);
            foreach (var w in _locks.Forget(id))
                DeliverRefusal(w, id, LockStatus.NotFound);
        }
        else
        {
            result = StoreCodec.Apply(pending.Base, d);
            Applier.Commit(result);
            if (pending.Request.Release && d.Token != 0)
                Deliver(_locks.Release(id, pending.Request.Writer, d.Token, result.Token, TokenFloor));
        }
        RaiseCommitted(d, pending.Request.Writer);
        var answer = new CommitResult(CommitStatus.Applied, d.Version, d.Epoch, 0, result);
        if (_options.DurableCommits && _disk is not null)
            _ = _disk.FlushAsync().ContinueWith(t => pending.Done.TrySetResult(t.IsCompletedSuccessfully ? answer : answer with { Status = CommitStatus.Unavailable }),
                CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        else
            pending.Done.TrySetResult(answer);
        if (_queued.TryGetValue(id, out var queue))
        {
            var (next, done) = queue.Dequeue();
            if (queue.Count == 0)
                _queued.Remove(id);
            SubmitCommitLocked(next, done);
        }
    }

    private void RaiseCommitted(SessionDelta d, string writer)
    {
        var context = _context!;
        try
        {
            var e = new SessionEventArgs(d.Id, d.Version, writer);
            if (d.Removal && d.RemovalReason == RemovalReason.Expired)
                context.OnRemoved(e, SessionRemovalReason.Expired);
            else if (writer != InstanceId && d.Removal)
                context.OnRemoved(e, SessionRemovalReason.Invalidated);
            else if (writer != InstanceId)
                context.OnReceived(e);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogEventHandlerFailed(d.Id, ex);
        }
    }

    /// <summary>A replica's acknowledgement (or a push's) on the receive thread.</summary>
    private void OnReplicateAck(string from, ReplicateAck ack)
    {
        if (_calls.Awaits(ack.ReplicationId, from))
        {
            _calls.Complete(ack.ReplicationId, from, new Envelope { ReplicateAck = ack }); // a reconciliation push
            return;
        }
        lock (_gate)
        {
            if (!_replications.TryGetValue(ack.ReplicationId, out var pending) || !pending.Eligible.Contains(from))
            {
                LogAckIgnored(from, ack.ReplicationId, pending is null ? "no such commit in flight" : "not counted for it");
                return;
            }
            if (ack.Status != ReplicateStatus.Applied || ack.Epoch != pending.Delta.Epoch)
            {
                LogAckIgnored(from, ack.ReplicationId, $"{ack.Status} in epoch {ack.Epoch}");
                return; // it is in a later epoch: the epoch change re-sends or resolves this commit
            }
            pending.Acked.Add(from);
            if (pending.Acked.Count >= pending.Required)
                CompleteLocked(pending);
        }
    }

    /// <summary>
    /// A new primary epoch and this node took part in the previous one: a commit it still arbitrates with continuity is
    /// re-sent under the new epoch and counted among the new view's members; any other is in doubt (its holder asks the
    /// next arbiter). Under the gate; <see cref="_ready"/> already holds the new view's caught-up members.
    /// </summary>
    private void ContinueInFlightLocked(Reconciliation reconciliation)
    {
        foreach (var pending in _inFlight.Values.ToList())
        {
            if (IsArbiter(pending.Id, _view) && !reconciliation.NeedsRecovery(pending.Id))
            {
                Counters.AddWriteConcernRecount();
                var restamped = Clone(pending.Delta);
                restamped.Epoch = reconciliation.Epoch;
                pending.Delta = restamped;
                SendPendingLocked(pending);
            }
            else
            {
                InDoubtLocked(pending);
            }
        }
        foreach (var id in _queued.Keys.ToList())
        {
            if (!_inFlight.ContainsKey(id))
                RefuseQueuedLocked(id, CommitStatus.NotArbiter);
        }
    }

    private void InDoubtLocked(PendingCommit pending)
    {
        _inFlight.Remove(pending.Id);
        _replications.Remove(pending.ReplicationId);
        pending.Done.TrySetResult(new CommitResult(CommitStatus.Applied, 0, 0, 0, null) { InDoubt = true });
        RefuseQueuedLocked(pending.Id, CommitStatus.NotArbiter);
    }

    private void RefuseQueuedLocked(string id, CommitStatus status)
    {
        if (!_queued.Remove(id, out var queue))
            return;
        foreach (var (_, done) in queue)
            done.TrySetResult(new CommitResult(status, 0, 0, 0, null));
    }

    /// <summary>Every commit this node arbitrates is in doubt (it lost its epoch). Under the gate.</summary>
    private void InDoubtAllLocked(string reason)
    {
        if (_inFlight.Count > 0)
            LogInDoubt(_inFlight.Count, reason);
        foreach (var pending in _inFlight.Values.ToList())
            InDoubtLocked(pending);
        foreach (var id in _queued.Keys.ToList())
            RefuseQueuedLocked(id, CommitStatus.Unavailable);
    }

    /// <summary>This node arbitrates nothing any more: commits in flight are in doubt, locks and their waiters dropped. Under the gate.</summary>
    private void AbandonAllLocked(string reason)
    {
        InDoubtAllLocked(reason);
        foreach (var id in _locks.Sessions.ToList())
        {
            foreach (var w in _locks.Export(id).Waiters)
                DeliverRefusal(w, id, LockStatus.NotArbiter);
        }
        _deferredAcks.Clear();
    }

    /// <summary>How long a commit waits for an acknowledgement before it sends the update again to the members that have
    /// not acknowledged it.</summary>
    private TimeSpan ResendAfter => _options.CommitTimeout / 4 > TickPeriod ? _options.CommitTimeout / 4 : TickPeriod;

    /// <summary>A commit still missing acknowledgements after <see cref="ResendAfter"/> sends the update again, by unicast,
    /// to the members that have not acknowledged it (the update or its acknowledgement may have been lost; a replica
    /// acknowledges a copy it already applied again). A member that has not acknowledged within the commit timeout stops
    /// counting for that commit (the channel removes a member that stays stuck).</summary>
    private void CheckWriteConcernDeadlines()
    {
        List<(string Node, byte[] Payload)>? resend = null;
        lock (_gate)
        {
            if (_inFlight.Count == 0)
                return;
            var now = _time.GetUtcNow();
            var due = now - _options.CommitTimeout;
            foreach (var pending in _inFlight.Values.ToList())
            {
                if (pending.Acked.Count < pending.Required && now - pending.LastSent >= ResendAfter)
                {
                    pending.LastSent = now;
                    var message = new Replicate { ReplicationId = pending.ReplicationId, Epoch = pending.Delta.Epoch, Deltas = [pending.Delta], AckRequested = true };
                    var payload = StoreCodec.Encode(new Envelope { Replicate = message });
                    foreach (var node in pending.Eligible.Where(n => !pending.Acked.Contains(n)))
                        (resend ??= []).Add((node, payload));
                    Counters.AddCommitResend();
                    LogCommitResent(pending.Id, pending.Delta.Version, pending.ReplicationId, string.Join(", ", pending.Eligible.Where(n => !pending.Acked.Contains(n))));
                }
                if (pending.Sent > due || pending.Acked.Count >= pending.Required)
                    continue;
                // A stuck member stops counting, but never below a majority of the view with the arbiter: a node cut
                // off before its channel noticed must not acknowledge alone. The rest waits for the view to change.
                var floor = Math.Min(pending.Required, _view.Members.Count / 2);
                if (pending.Required <= floor)
                    continue;
                var stuck = pending.Eligible.Where(n => !pending.Acked.Contains(n)).ToList();
                LogWriteConcernTimeout(pending.Id, string.Join(", ", stuck), _options.CommitTimeout.TotalSeconds);
                Counters.AddWriteConcernTimeout();
                pending.Required = Math.Max(floor, Math.Min(pending.Required, pending.Acked.Count));
                if (pending.Acked.Count >= pending.Required)
                    CompleteLocked(pending);
            }
        }
        foreach (var (node, payload) in resend ?? [])
            SendRaw(node, payload);
    }

    /// <summary>Expiry is the arbiter's decision; the others follow its removal.</summary>
    private bool ExpireIfArbiter(string id)
    {
        var done = new TaskCompletionSource<CommitResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            var epoch = _epoch;
            if (!epoch.Serving || !IsArbiter(id, _view) || epoch.Reconciliation?.Blocks(id) != false || _inFlight.ContainsKey(id))
                return false;
            if (Table.Get(id) is not { } state || !IsExpired(state, _time.GetUtcNow()) || _locks.HolderOf(id) is not null)
                return false;
            var removal = new SessionDelta
            {
                Id = id,
                BaseVersion = state.Version,
                Version = state.Version + 1,
                Writer = InstanceId,
                CommitId = NewCommitId(),
                Removal = true,
                RemovalReason = RemovalReason.Expired,
            };
            SubmitCommitLocked(new CommitRequestInfo(removal, false, InstanceId), done);
        }
        return true;
    }

    /// <summary>Replica: commits in their order, or whole copies (reconciliation), from an arbiter (receive thread).</summary>
    private void OnReplicate(string from, Replicate message)
    {
        bool ack;
        List<DeferredAck>? released;
        lock (_gate)
        {
            var epoch = _epoch;
            // Also while a view is undecided: a member just resumed from a pause may still act in an epoch the
            // others have left, and an acknowledgement from here would let it commit beside the real primary.
            var fence = Math.Max(epoch.Epoch, _epochFence);
            if (message.Epoch < fence)
            {
                LogReplicateFenced(message.ReplicationId, message.Epoch, from, fence);
                Counters.AddStaleEpoch();
                if (message.AckRequested)
                    Send(from, new Envelope { ReplicateAck = new ReplicateAck { ReplicationId = message.ReplicationId, Epoch = fence, Status = ReplicateStatus.StaleEpoch } });
                return;
            }
            foreach (var copy in message.Copies)
            {
                if (Applier.ApplyCopy(copy, authoritative: true, message.Epoch))
                    Counters.AddTransferred(1);
            }
            List<SessionDelta>? waiting = null;
            foreach (var d in message.Deltas)
            {
                switch (Applier.ApplyDelta(d, from))
                {
                    case ApplyResult.Applied:
                        Counters.AddApplied();
                        RaiseCommitted(d, d.Writer);
                        break;
                    case ApplyResult.Parked or ApplyResult.Conflict:
                        LogDeltaWaits(d.Id, d.Version, d.Epoch, from, Table.Get(d.Id)?.Version ?? -1);
                        Counters.AddBuffered();
                        (waiting ??= []).Add(d);
                        break;
                }
            }
            ack = message.AckRequested && waiting is null;
            // What this message applied may have completed deltas that waited (a base that came after its successor,
            // a copy pushed by reconciliation): their acknowledgements go out now, whichever path applied them.
            released = _deferredAcks.Count > 0 ? TakeHeldDeferredAcksLocked() : null;
            if (waiting is not null)
            {
                if (message.AckRequested)
                    _deferredAcks[message.ReplicationId] = new DeferredAck(from, message.ReplicationId, message.Epoch, waiting);
                foreach (var d in waiting)
                    Track(SyncFromAsync(from, d.Id));
            }
        }
        LogReplicateHeard(message.ReplicationId, message.Epoch, from, message.Deltas.Count, message.Copies.Count, ack);
        if (ack)
            AckReplicate(from, message.ReplicationId, message.Epoch);
        foreach (var deferred in released ?? [])
            AckReplicate(deferred.Arbiter, deferred.ReplicationId, deferred.Epoch);
    }

    /// <summary>The deferred acknowledgements whose deltas this node now holds, removed from the waiting set. Under the gate.</summary>
    private List<DeferredAck>? TakeHeldDeferredAcksLocked()
    {
        List<DeferredAck>? ready = null;
        foreach (var deferred in _deferredAcks.Values)
        {
            if (deferred.Deltas.TrueForAll(HeldLocked))
                (ready ??= []).Add(deferred);
        }
        foreach (var deferred in ready ?? [])
            _deferredAcks.Remove(deferred.ReplicationId);
        return ready;
    }

    private void AckReplicate(string arbiter, ulong replicationId, long epoch)
    {
        var reply = new Envelope { ReplicateAck = new ReplicateAck { ReplicationId = replicationId, Epoch = epoch, Status = ReplicateStatus.Applied } };
        if (_options.DurableCommits && _disk is not null)
            _ = _disk.FlushAsync().ContinueWith(t => { if (t.IsCompletedSuccessfully) Send(arbiter, reply); }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        else
            Send(arbiter, reply);
    }

    /// <summary>A delta that came before its base: the arbiter's committed copy fills the gap (and may replace a copy the
    /// primary never confirmed); then the acknowledgements that waited for it go out.</summary>
    private async Task SyncFromAsync(string arbiter, string id)
    {
        Counters.AddSync();
        var callId = _calls.NextId();
        try
        {
            var request = new Envelope { ReadRequest = new ReadRequest { RequestId = callId, SessionId = id, ForHolder = true } };
            var reply = (await _calls.CallAsync(arbiter, callId, request, _options.CommitTimeout, _stopping.Token)).ReadReply;
            if (reply?.Copy is not { } copy)
                return;
            List<DeferredAck>? ready;
            lock (_gate)
            {
                Applier.ApplyCopy(copy, authoritative: true, _epoch.Epoch);
                ready = TakeHeldDeferredAcksLocked();
            }
            foreach (var deferred in ready ?? [])
                AckReplicate(deferred.Arbiter, deferred.ReplicationId, deferred.Epoch);
        }
        catch (Exception ex) when (ex is MemberGoneException or TimeoutException or OperationCanceledException)
        {
            // Asked again from the tick while the delta waits.
        }
    }

    /// <summary>Whether this replica holds the delta's version or a later one of its epoch or after (not a copy of the same
    /// version the primary never confirmed), or a removal that supersedes it. Under the gate.</summary>
    private bool HeldLocked(SessionDelta d)
    {
        if (Table.Get(d.Id) is { } state)
            return SessionApplier.Compare(state.Epoch, state.Version, d.Epoch, d.Version) >= 0;
        return Applier.TombstoneOf(d.Id) is { } dead && dead.Version >= d.Version - (d.Removal ? 0 : 1);
    }

    /// <summary>Parked deltas whose sync failed are asked for again.</summary>
    private void SyncParked()
    {
        List<(string Id, string From)> due;
        lock (_gate)
        {
            if (Applier.ParkedCount == 0)
                return;
            due = Applier.DueParked(TimeSpan.FromMilliseconds(200));
        }
        foreach (var (id, from) in due)
            Track(SyncFromAsync(from, id));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a commit to session {SessionId} from {Writer} under stale token {Token} (current {Current})")]
    private partial void LogStaleCommit(string sessionId, string writer, long token, long current);

    [LoggerMessage(Level = LogLevel.Information, Message = "Commit {CommitId} to session {SessionId}: {Outcome}")]
    private partial void LogOutcomeCore(string sessionId, ulong commitId, string outcome);

    private void LogOutcome(string sessionId, ulong commitId, string outcome) => LogOutcomeCore(sessionId, commitId, outcome);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} commit(s) in flight are in doubt: {Reason}; their holders ask the next arbiter")]
    private partial void LogInDoubt(int count, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Commit to session {SessionId}: no acknowledgement from {Members} within {Seconds:0.#} s; they no longer count for it")]
    private partial void LogWriteConcernTimeout(string sessionId, string members, double seconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Replicate {ReplicationId} (epoch {Epoch}) from {From}: {Deltas} delta(s), {Copies} copies; acknowledged: {Ack}")]
    private partial void LogReplicateHeard(ulong replicationId, long epoch, string from, int deltas, int copies, bool ack);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Replicate {ReplicationId} (epoch {Epoch}) from {From} refused: this node is in epoch {Fence}")]
    private partial void LogReplicateFenced(ulong replicationId, long epoch, string from, long fence);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Commit v{Version} of session {SessionId} ({ReplicationId}) not acknowledged yet by {Members}: sent to them again")]
    private partial void LogCommitResent(string sessionId, long version, ulong replicationId, string members);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Acknowledgement {ReplicationId} from {From} ignored: {Reason}")]
    private partial void LogAckIgnored(string from, ulong replicationId, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Delta v{Version} (epoch {Epoch}) of session {SessionId} from {From} waits: this node holds v{Have}")]
    private partial void LogDeltaWaits(string sessionId, long version, long epoch, string from, long have);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Commit v{Version} (epoch {Epoch}) of session {SessionId} sent as {ReplicationId} to [{Replicas}], {Required} acknowledgement(s) required")]
    private partial void LogCommitSent(string sessionId, long version, long epoch, ulong replicationId, string replicas, int required);

    [LoggerMessage(Level = LogLevel.Error, Message = "A session event handler threw for session {SessionId}")]
    private partial void LogEventHandlerFailed(string sessionId, Exception ex);
}
