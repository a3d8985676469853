using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

// Membership: views, the primary decision and its epoch, exclusion, readiness, and a graceful leave.
internal sealed partial class StoreNode
{
    private volatile EpochState _epoch = EpochState.Initial;
    private long _epochFence; // the highest primary epoch this node has decided: nothing older is applied here any more
    private MembershipView _view = NoView;
    private volatile bool _excluded;
    private bool _servedBeforeViewChange; // whether this node served (primary, caught up) in the last view it decided
    private readonly HashSet<string> _ready = new(StringComparer.Ordinal); // members whose acknowledgements count (caught up)
    private static readonly TimeSpan PrimaryStateResend = TimeSpan.FromMilliseconds(300);
    private PrimaryState? _ownState;          // this node's state for the current view
    private DateTimeOffset _ownStateSent;     // when it was last sent
    private readonly Dictionary<string, long> _earlyReady = new(StringComparer.Ordinal); // MemberReady heard before this node decided its epoch
    private MembershipView _installed = NoView; // the channel's view, as installed (_view is the decided one)
    private int _round;                         // the decision round in it (a hand-off starts the next)

    /// <summary>
    /// Where this node is: its view, the members' decision for it (null until every member's state arrived), whether
    /// this node holds what it must, and the epoch's reconciliation. Replaced whole under the gate; read without it.
    /// </summary>
    private sealed record EpochState(MembershipView View, PrimaryDecision? Decision, bool CaughtUp, Reconciliation? Reconciliation)
    {
        /// <summary>A new one for each node: its <see cref="Changed"/> completes when that node leaves it (a shared one
        /// would already be completed for every node after the first, and WaitReadyAsync would spin on it).</summary>
        public static EpochState Initial => new(NoView, null, false, null);

        /// <summary>Completes when the decision is made or the view changes again.</summary>
        public TaskCompletionSource Changed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long Epoch => Decision?.Epoch ?? 0;

        public bool Serving => Decision is { IsPrimary: true } && CaughtUp;
    }

    public MembershipView View => _view;

    private void SetEpochLocked(EpochState next)
    {
        var previous = _epoch;
        _epoch = next;
        previous.Changed.TrySetResult();
    }

    /// <summary>A new view (receive thread): the decision for it waits for the members' states.</summary>
    private void OnViewChanged(MembershipView view)
    {
        PrimaryState own;
        lock (_gate)
        {
            var previous = _view;
            var gone = previous.Members.Where(m => view.Find(m.NodeId) is not { } now || now.Incarnation != m.Incarnation)
                .Select(m => m.NodeId).ToHashSet(StringComparer.Ordinal);
            if (_epoch.Decision is not null)
                _servedBeforeViewChange = _epoch.Serving && !_excluded; // an undecided view in between changes nothing
            _view = view;
            _excluded = false;
            LogViewChanged(view.Id, view.Members.Count, string.Join(", ", view.Members), gone.Count);
            if (gone.Count > 0)
            {
                Deliver(_locks.DropNodes(gone.Contains, RecordToken, TokenFloor));
                _ready.ExceptWith(gone);
            }
            _installed = view;
            own = BeginRoundLocked(0);
        }
        _calls.FailWhere(node => !view.Contains(node));
        if (view.Members.Count > 1)
            Broadcast(new Envelope { PrimaryState = own });
        StartReconciliationIfDue();
    }

    /// <summary>A decision round in the installed view: round 0 when it is installed, the next one for a hand-off. Under
    /// the gate; the caller broadcasts the returned state.</summary>
    private PrimaryState BeginRoundLocked(int round)
    {
        _round = round;
        _epoch.Reconciliation?.Abandon();
        // Until the members decide, nothing is arbitrated or counted; requests wait (bounded) for the decision.
        SetEpochLocked(new EpochState(_installed, null, _epoch.CaughtUp, null));
        var (own, decided) = _primary.BeginView(_installed, round);
        _ownState = own;
        _ownStateSent = _time.GetUtcNow();
        if (decided is not null)
            OnDecidedLocked(decided);
        return own;
    }

    /// <summary>Every member of a primary with members catching up is caught up (this node too): a new round in the same
    /// view, in which they arbitrate their sessions again. The decision is one exchange of states among warm members (the
    /// majority rule of a join), then the sessions handed back are recovered by their arbiter like any other whose arbiter
    /// changed: their locks move with them, and requests for them wait for it (bounded). Under the gate.</summary>
    private PrimaryState? BeginHandOffLocked()
    {
        if (_epoch is not { Decision: { IsPrimary: true } decision, CaughtUp: true } || _excluded || !decision.View.HasCatchingUp
            || Volatile.Read(ref _stopped) != 0 || !decision.View.Members.All(m => _ready.Contains(m.NodeId)))
            return null;
        if (_epoch.View.Members.Count != _installed.Members.Count || _epoch.View.Id != _installed.Id)
            return null;
        LogHandOff(_installed.Id, decision.Epoch, _round + 1);
        _servedBeforeViewChange = _epoch.Serving;
        return BeginRoundLocked(_round + 1);
    }

    private void HandOffIfDue()
    {
        PrimaryState? own;
        lock (_gate)
            own = BeginHandOffLocked();
        if (own is null)
            return;
        Broadcast(new Envelope { PrimaryState = own });
        StartReconciliationIfDue();
    }

    /// <summary>This node was removed from the group while alive (a pause, a one-way partition): it stops serving until
    /// it has rejoined and caught up, and nothing it was doing as an arbiter counts any more.</summary>
    private void OnExcluded(MembershipView lastView)
    {
        lock (_gate)
        {
            _excluded = true;
            _servedBeforeViewChange = false;
            _primary.Behind = true; // the others may have gone on committing: it catches up in the next primary
            LogExcluded(InstanceId, lastView.Id);
            _epoch.Reconciliation?.Abandon();
            AbandonAllLocked("this node was excluded from the group");
            SetEpochLocked(new EpochState(NoView, null, false, null));
            _view = NoView;
            _installed = NoView;
            _ready.Clear();
        }
        _calls.FailWhere(_ => true);
    }

    private void OnPrimaryState(string from, PrimaryState state)
    {
        PrimaryState? again = null, answer = null, handOff = null;
        lock (_gate)
        {
            LogPrimaryStateHeard(from, state.ViewId, state.Ask, _view.Id, _epoch.Decision is not null);
            // A member began the hand-off round: it heard every member ready, this node may not have yet (its "ready" is
            // on its way). Nothing in the round depends on it, so this node begins it too.
            if (state.ViewId == _installed.Id && state.Round == _round + 1 && state.ViewHash == PrimaryTracker.HashOf(_installed, _round + 1)
                && _epoch is { Decision: { IsPrimary: true } d, CaughtUp: true } && d.View.HasCatchingUp)
            {
                foreach (var m in d.View.Members)
                    _ready.Add(m.NodeId);
                handOff = BeginHandOffLocked();
            }
            if (_primary.Receive(from, state) is { } decided && decided.View.Id == _installed.Id)
                OnDecidedLocked(decided);
            if (state.Ask && _ownState is { } own && own.ViewId == state.ViewId && own.ViewHash == state.ViewHash)
            {
                answer = own; // to the asker itself: the group's broadcast stream between two members may be what failed
                if (_time.GetUtcNow() - _ownStateSent >= PrimaryStateResend / 3)
                {
                    _ownStateSent = _time.GetUtcNow();
                    again = own;
                }
            }
        }
        if (answer is not null)
            Send(from, new Envelope { PrimaryState = answer });
        if (again is not null)
            Broadcast(new Envelope { PrimaryState = again });
        if (handOff is not null)
            Broadcast(new Envelope { PrimaryState = handOff });
        StartReconciliationIfDue();
        HandOffIfDue();
    }

    /// <summary>Timer: a view still undecided after a while means a member's state did not reach this node (it was
    /// paused while the others sent theirs, or they decided and moved on); ask every member to send its own again, and
    /// the members whose state is missing once more by unicast (a broadcast from or to one of them may be what was lost).</summary>
    private void AskForPrimaryStatesIfStuck()
    {
        PrimaryState? ask = null;
        List<string> missing;
        lock (_gate)
        {
            if (_excluded || _epoch.Decision is not null || _ownState is not { } own || _view.Members.Count < 2
                || own.ViewId != _view.Id || _time.GetUtcNow() - _ownStateSent < PrimaryStateResend)
                return;
            _ownStateSent = _time.GetUtcNow();
            ask = own.Asking();
            missing = _primary.Missing();
        }
        Counters.AddPrimaryStateAsk();
        LogAskingForStates(ask.ViewId, string.Join(", ", missing));
        Broadcast(new Envelope { PrimaryState = ask });
        foreach (var node in missing)
        {
            if (node != InstanceId)
                Send(node, new Envelope { PrimaryState = ask });
        }
    }

    /// <summary>The members decided for the current view. Under the gate.</summary>
    private void OnDecidedLocked(PrimaryDecision decision)
    {
        // The decided view says who arbitrates: members catching up act for no ring index in it.
        var view = decision.View;
        _view = view;
        // The epoch was replaced when the view changed (undecided), so whether this node served comes from before that.
        var wasServing = _servedBeforeViewChange;
        if (!decision.IsPrimary)
        {
            LogNoQuorum(view.Id, decision.Present, decision.Basis, decision.Previous.Epoch, decision.Remembering);
            InDoubtAllLocked("this node's view is not the primary partition");
            SetEpochLocked(new EpochState(view, decision, _epoch.CaughtUp, null));
            return;
        }
        var fresh = decision.Fresh.Contains(InstanceId);
        _epochFence = Math.Max(_epochFence, decision.Epoch);
        _stalled = false; // decided from every member's state for this view: current again
        var reconciliation = new Reconciliation(this, decision);
        _ready.Clear();
        foreach (var m in view.Members)
        {
            if (!decision.Fresh.Contains(m.NodeId))
                _ready.Add(m.NodeId);
            else if (_earlyReady.TryGetValue(m.NodeId, out var epoch) && epoch == decision.Epoch)
                _ready.Add(m.NodeId); // it caught up before this node had every member's state
        }
        _earlyReady.Clear();
        SetEpochLocked(new EpochState(view, decision, !fresh, reconciliation));
        if (fresh)
        {
            // It arbitrated nothing the primary knows of: its locks and commits in flight mean nothing now.
            AbandonAllLocked("this node catches up with the primary partition");
        }
        else
        {
            ContinueInFlightLocked(reconciliation);
        }
        Counters.AddReconciliation();
        LogPrimary(view.Id, decision.Epoch, view.Members.Count, decision.Fresh.Count, fresh, wasServing);
    }

    private void OnMemberReady(string from, MemberReady ready)
    {
        lock (_gate)
        {
            if (!_view.Contains(from))
                return;
            if (_epoch.Decision is not null && ready.Epoch == _epoch.Epoch)
                _ready.Add(from);
            else if (_epoch.Decision is null || ready.Epoch > _epoch.Epoch)
                _earlyReady[from] = ready.Epoch; // a fresh member may catch up from the others before this node decides
        }
        if (ready.RequestId != 0)
            Send(from, new Envelope { ReconcileAck = new ReconcileAck { RequestId = ready.RequestId } });
        HandOffIfDue();
    }

    /// <summary>This node holds what it must for the epoch: it serves, and its acknowledgements count.</summary>
    private void MarkCaughtUp(Reconciliation reconciliation)
    {
        lock (_gate)
        {
            if (_epoch.Reconciliation != reconciliation || _epoch.CaughtUp)
                return;
            _primary.CaughtUp(reconciliation.Epoch);
            _ready.Add(InstanceId);
            SetEpochLocked(_epoch with { CaughtUp = true });
        }
        LogCaughtUp(InstanceId, reconciliation.Epoch, Table.Count);
        // To each member by unicast rather than one broadcast, until it answers: a member that misses it would never
        // count this node's acknowledgements in this epoch (and report Degraded until the next view).
        foreach (var m in reconciliation.View.Members)
        {
            if (m.NodeId != InstanceId)
                Track(AskUntilAnsweredAsync(m.NodeId, id => new Envelope { MemberReady = new MemberReady { Epoch = reconciliation.Epoch, RequestId = id } }, reconciliation.Cancel.Token));
        }
        HandOffIfDue();
    }

    /// <summary>Some commits complete with fewer acknowledgements than the write concern asks for, because the members
    /// that would give them are catching up (their acknowledgements count once they are caught up).</summary>
    private bool WriteConcernShortfall(EpochState epoch)
    {
        int members = epoch.View.Members.Count, ready;
        lock (_gate)
            ready = _ready.Count;
        if (_options.ReplicationAcks == 0 || members == 1)
            return false;
        // Ring: a catching-up member may be the only backup of some sessions. Replicated: any ready replica will do.
        return _replication.EveryMember ? ready - 1 < _replication.RequiredAcks(_options, members - 1) : ready < members;
    }

    /// <summary>Waits (bounded by the lock wait timeout) until this node may serve: decided, primary and caught up.</summary>
    /// <exception cref="ClusterUnavailableException">No quorum, still catching up, or leaving.</exception>
    private async Task<EpochState> WaitServingAsync(CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + _options.LockWaitTimeout;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Volatile.Read(ref _stopped) != 0)
                throw new ClusterUnavailableException(ClusterStoreStatus.Leaving, $"Node '{InstanceId}' is leaving the cluster.", RetryAfter);
            var epoch = _epoch;
            if (epoch.Decision is { IsPrimary: false })
            {
                Counters.AddNoQuorum();
                throw new ClusterUnavailableException(ClusterStoreStatus.NoQuorum,
                    epoch.Decision.Present * 2 > epoch.Decision.Basis
                        ? $"Node '{InstanceId}' has no quorum: {epoch.Decision.Present} of the {epoch.Decision.Basis} members of the last primary view are reachable, and {epoch.Decision.Remembering} of them remember it: too few to hold every update acknowledged there (a member restarted without its copies, or the write concern is below a majority); waiting for more of its members."
                        : $"Node '{InstanceId}' is in a minority partition: {epoch.Decision.Present} of the {epoch.Decision.Basis} members of the last primary view are reachable (no quorum).", RetryAfter);
            }
            var unconfirmed = false;
            if (epoch.Serving && !_excluded)
            {
                if (!StallSuspected() || epoch.View.Members.Count == 1 || await ConfirmLeaseAsync(epoch).WaitAsync(cancellationToken))
                    return epoch;
                unconfirmed = true; // the others moved on (this view's change is on its way), or did not answer: ask again soon
            }
            var left = deadline - _time.GetUtcNow();
            if (left <= TimeSpan.Zero)
            {
                throw new ClusterUnavailableException(ClusterStoreStatus.Joining,
                    $"Node '{InstanceId}' is joining or catching up with the cluster and cannot serve yet.", RetryAfter);
            }
            try
            {
                await epoch.Changed.Task.WaitAsync(unconfirmed && left > LeaseRetry ? LeaseRetry : left, _time, cancellationToken);
            }
            catch (TimeoutException)
            {
                // Checked again at the top.
            }
        }
    }

    private TimeSpan RetryAfter => _options.LockWaitTimeout < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : TimeSpan.FromSeconds(2);

    private async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var epoch = _epoch;
            if (epoch.Serving && !_excluded)
                return;
            await epoch.Changed.Task.WaitAsync(cancellationToken);
        }
    }

    /// <summary>Announces the leave (members stop counting this node for the majority), lets the commits this node
    /// arbitrates finish, then leaves the channel's view.</summary>
    private async Task LeaveGracefullyAsync(CancellationToken cancellationToken)
    {
        PrimaryState state;
        Task[] inFlight;
        lock (_gate)
        {
            _primary.Leaving = true;
            state = new PrimaryState { ViewId = _view.Id, Leaving = true };
            inFlight = [.. _inFlight.Values.Select(p => p.Done.Task)];
        }
        if (_view.Members.Count > 1)
            Broadcast(new Envelope { PrimaryState = state });
        try
        {
            await Task.WhenAll(inFlight).WaitAsync(_options.CommitTimeout, _time, cancellationToken);
        }
        catch (Exception ex) when (ex is TimeoutException or ClusterUnavailableException or LockLostException or SessionTooLargeException or CommitInDoubtException)
        {
            // Whatever did not finish is resolved by its holder with the next arbiter.
        }
        await FlushTouchesAsync();
        await _channel.LeaveAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Primary state of {From} for view {ViewId} (asking: {Ask}); this node is in view {Own}, decided: {Decided}")]
    private partial void LogPrimaryStateHeard(string from, long viewId, bool ask, long own, bool decided);

    [LoggerMessage(Level = LogLevel.Debug, Message = "View {ViewId} still undecided: asking every member for its primary state again (missing: {Missing})")]
    private partial void LogAskingForStates(long viewId, string missing);

    [LoggerMessage(Level = LogLevel.Information, Message = "View {ViewId}: {Count} member(s) [{Members}], {Gone} gone")]
    private partial void LogViewChanged(long viewId, int count, string members, int gone);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Node {NodeId} was removed from the group while alive (last view {ViewId}): it stops serving, rejoins and catches up")]
    private partial void LogExcluded(string nodeId, long viewId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "View {ViewId} is not the primary partition: {Present} of {Basis} members of primary epoch {Epoch} reachable, {Remembering} of them remember it; exclusive requests are refused until enough of its members to hold every acknowledged update are back")]
    private partial void LogNoQuorum(long viewId, int present, int basis, long epoch, int remembering);

    [LoggerMessage(Level = LogLevel.Information, Message = "View {ViewId} is primary: epoch {Epoch}, {Count} member(s), {Fresh} catching up (this node: {SelfFresh}; was serving: {WasServing})")]
    private partial void LogPrimary(long viewId, long epoch, int count, int fresh, bool selfFresh, bool wasServing);

    [LoggerMessage(Level = LogLevel.Information, Message = "View {ViewId}: every member caught up with epoch {Epoch}; decision round {Round} hands their sessions back to the members that caught up")]
    private partial void LogHandOff(long viewId, long epoch, int round);

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {NodeId} caught up with epoch {Epoch}: {Sessions} session(s); ready")]
    private partial void LogCaughtUp(string nodeId, long epoch, int sessions);
}
