using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

/// <summary>
/// One node of a built-in cluster store: both stores are this composition, differing only in their
/// <see cref="ReplicationStrategy"/>. Each session's acting owner (its id's ring index, or the next live member in ring
/// order) arbitrates its lock and sequences its commits, but only while its view is the primary partition
/// (<see cref="PrimaryTracker"/>). The concerns live in partial files: membership and epochs
/// (<c>StoreNode.Membership.cs</c>), reconciliation after an epoch change (<c>.Reconcile.cs</c>), locks
/// (<c>.Locks.cs</c>), the commit path on the holder, the arbiter and the replicas (<c>.Commits.cs</c>) and reads and
/// access times (<c>.Reads.cs</c>). The rules that need no I/O are types of their own: <see cref="LockArbiter"/>,
/// <see cref="SessionApplier"/>, <see cref="PrimaryTracker"/>.
/// </summary>
/// <remarks>
/// Threads: the channel's receive thread calls <see cref="Handler"/>; requests call the public operations from any
/// thread; one timer runs maintenance. Shared state is guarded by <see cref="_gate"/> (short sections, no awaits, no
/// sends that block). Work proportional to the number of sessions (digests, pushes, trimming) runs on background tasks
/// that <see cref="DisposeAsync"/> cancels and awaits.
/// </remarks>
internal sealed partial class StoreNode : IAsyncDisposable
{
    private static readonly MembershipView NoView = new(-1, []);

    private readonly IGroupChannel _channel;
    private readonly ClusterStoreOptions _options;
    private readonly ReplicationStrategy _replication;
    private readonly TimeProvider _time;
    private readonly RequestClock _clock;
    private readonly ILogger _log;
    private readonly PeerCalls _calls;
    private readonly LockArbiter _locks;
    private readonly PrimaryTracker _primary;
    private readonly Handler _handler;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _background = [];

    private SessionStoreContext? _context;
    private SessionApplier? _applier;
    private SessionDisk? _disk;
    private ITimer? _timer;
    private int _stopped;
    private int _disposed;

    public StoreNode(IGroupChannel channel, ClusterStoreOptions options, ReplicationStrategy replication, TimeProvider? time, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _channel = channel;
        _options = options;
        _replication = replication;
        _time = time ?? TimeProvider.System;
        _clock = new RequestClock(_time);
        _log = logger ?? NullLogger.Instance;
        _calls = new PeerCalls(channel, _time);
        _locks = new LockArbiter(_time, options.LockLease);
        _primary = new PrimaryTracker(options.NodeId, options.Quorum, replication.RequiredAcks(options));
        _handler = new Handler(this);
        _stallThreshold = StallThresholdOf(channel, options);
        _majorityWindowTicks = MajorityWindowTicksOf(channel);
    }

    public string InstanceId => _options.NodeId;

    public StoreCounters Counters { get; } = new();

    public IGroupChannel Channel => _channel;

    private SessionTable Table => _context!.Table;

    private SessionOptions SessionOptions => _context!.Options;

    private SessionApplier Applier => _applier!;

    public ClusterStoreStatus Status
    {
        get
        {
            if (Volatile.Read(ref _stopped) != 0)
                return ClusterStoreStatus.Leaving;
            if (_context is null)
                return ClusterStoreStatus.Stopped;
            var epoch = _epoch;
            if (_excluded)
                return ClusterStoreStatus.Joining;
            if (epoch.Decision is null)
                return epoch.CaughtUp ? ClusterStoreStatus.Ready : ClusterStoreStatus.Joining; // deciding a new view: a round trip
            if (!epoch.Decision.IsPrimary)
                return ClusterStoreStatus.NoQuorum;
            if (!epoch.CaughtUp)
                return ClusterStoreStatus.Joining;
            return WriteConcernShortfall(epoch) ? ClusterStoreStatus.Degraded : ClusterStoreStatus.Ready;
        }
    }

    public async Task StartAsync(SessionStoreContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Interlocked.CompareExchange(ref _context, context, null) is not null)
            throw new InvalidOperationException("The store is already started.");
        if (_channel is ReliableGroupChannel reliable && reliable.Options.NodeId != _options.NodeId)
            throw new OptionsValidationError("Cluster:NodeId", $"the store's node id '{_options.NodeId}' differs from its channel's '{reliable.Options.NodeId}': give both the same id");
        if (_channel is ReliableGroupChannel sized && context.Options.MaxSessionBytes > sized.Options.MaxMessageBytes - MessageHeadroom)
        {
            throw new OptionsValidationError("Session:MaxSessionBytes",
                $"must be at most {sized.Options.MaxMessageBytes - MessageHeadroom} bytes: a whole session must fit in one channel message (Cluster:MaxMessageBytes {sized.Options.MaxMessageBytes} less {MessageHeadroom} bytes of headroom)");
        }
        if (!_replication.EveryMember && !string.IsNullOrEmpty(_options.DataDirectory))
            _disk = new SessionDisk(_options.DataDirectory, _log, Counters);
        _applier = new SessionApplier(context.Table, context.Options, _time, _disk);
        if (_disk is not null)
        {
            LoadDisk();
            _primary.TookPart = _disk.SavePrimary;
        }
        await _channel.StartAsync(_handler, cancellationToken);
        var period = TickPeriod;
        _lastTick = _time.GetUtcNow(); // a pause before the first tick is a stall too
        _timer = _time.CreateTimer(_ => OnTick(), null, period, period);
        LogStarting(InstanceId, _replication.EveryMember ? "replicated" : "ring");
        await WaitReadyAsync(cancellationToken);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0 || _context is null)
            return;
        try
        {
            await LeaveGracefullyAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or SendWindowFullException or ObjectDisposedException or TimeoutException)
        {
            LogLeaveFailed(ex);
        }
        await _stopping.CancelAsync();
        if (_timer is not null)
            await _timer.DisposeAsync();
        _calls.FailWhere(_ => true);
        lock (_gate)
            AbandonAllLocked("the node is stopping");
        await AwaitBackgroundAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await StopAsync(CancellationToken.None);
        await _channel.DisposeAsync();
        if (_disk is not null)
            await _disk.DisposeAsync();
        _stopping.Dispose();
    }

    /// <summary>What a message may carry besides one whole session (ids, versions, framing).</summary>
    private const int MessageHeadroom = 64 * 1024;

    private bool IsArbiter(string id, MembershipView view) => ReplicationStrategy.ArbiterOf(id, view)?.NodeId == InstanceId;

    private bool HoldsHere(string id, MembershipView view) => _replication.Holds(id, view, InstanceId);

    public bool MustHold(string id) => HoldsHere(id, _view);

    /// <summary>Tracks a background task until it ends; <see cref="DisposeAsync"/> awaits what is left.</summary>
    private void Track(Task task)
    {
        lock (_background)
        {
            _background.RemoveAll(t => t.IsCompleted);
            _background.Add(task);
        }
    }

    private async Task AwaitBackgroundAsync()
    {
        Task[] pending;
        lock (_background)
            pending = [.. _background];
        try
        {
            await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(10), _time);
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException or MemberGoneException or InvalidOperationException or ObjectDisposedException)
        {
            LogBackgroundUnfinished(ex.GetType().Name);
        }
    }

    /// <summary>Sends without waiting (the receive thread never blocks); a failure is logged.</summary>
    private void Send(string node, Envelope message) => SendRaw(node, StoreCodec.Encode(message));

    /// <summary>Sends an encoded message without waiting; a failure is logged.</summary>
    private void SendRaw(string node, byte[] payload)
    {
        ValueTask sent;
        try
        {
            sent = _channel.SendAsync(node, payload);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            LogSendFailed(node, ex);
            return;
        }
        Observe(sent, node);
    }

    private void Broadcast(Envelope message)
    {
        ValueTask<long> sent;
        try
        {
            sent = _channel.BroadcastAsync(StoreCodec.Encode(message));
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            LogSendFailed("the group", ex);
            return;
        }
        if (!sent.IsCompletedSuccessfully)
            _ = ObserveAsync(sent.AsTask(), "the group");
    }

    private void Observe(ValueTask sent, string node)
    {
        if (!sent.IsCompletedSuccessfully)
            _ = ObserveAsync(sent.AsTask(), node);
    }

    private async Task ObserveAsync(Task sent, string node)
    {
        try
        {
            await sent;
        }
        catch (Exception ex) when (ex is InvalidOperationException or SendWindowFullException or ObjectDisposedException or OperationCanceledException)
        {
            LogSendFailed(node, ex);
        }
    }

    private void EnsureStarted()
    {
        if (_context is null)
            throw new InvalidOperationException("The store is not started: call SessionManager.StartAsync first.");
    }

    private void OnTick()
    {
        if (_context is null || _stopping.IsCancellationRequested)
            return;
        try
        {
            _clock.Calibrate();
            NoteTick();
            ExpireLeases();
            AskForPrimaryStatesIfStuck();
            CheckWriteConcernDeadlines();
            SyncParked();
            FlushTouchesIfDue();
            TrimLeftoversIfDue();
            lock (_gate)
                Applier.PruneTombstones();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogTickFailed(ex);
        }
    }

    /// <summary>The channel's receive thread. Nothing escapes it.</summary>
    private sealed class Handler(StoreNode node) : GroupHandler
    {
        public override void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast) => node.OnMessage(sender, payload);

        public override void OnViewChanged(MembershipView view) => node.Guard(() => node.OnViewChanged(view), "view change");

        public override void OnExcluded(MembershipView lastView) => node.Guard(() => node.OnExcluded(lastView), "exclusion");
    }

    private void Guard(Action action, string what)
    {
        try
        {
            action();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogDispatchFailed(what, "the channel", ex);
        }
    }

    private void OnMessage(Member sender, ReadOnlySpan<byte> payload)
    {
        var context = _context;
        if (context is null || !StoreCodec.TryDecode(payload, context.Options.MaxSessionBytes, out var m))
        {
            Counters.AddMalformed();
            LogMalformed(sender.NodeId, payload.Length);
            return;
        }
        var from = sender.NodeId;
        try
        {
            if (m.Replicate is { } replicate)
                OnReplicate(from, replicate);
            else if (m.ReplicateAck is { } ack)
                OnReplicateAck(from, ack);
            else if (m.LockRequest is { } lockRequest)
                OnLockRequest(from, lockRequest);
            else if (m.LockRelease is { } release)
                OnLockRelease(from, release);
            else if (m.LockCancel is { } cancel)
                OnLockCancel(from, cancel);
            else if (m.CommitRequest is { } commit)
                OnCommitRequest(from, commit);
            else if (m.ReadRequest is { } read)
                OnReadRequest(from, read);
            else if (m.Touch is { } touch)
                OnTouch(touch);
            else if (m.PrimaryState is { } state)
                OnPrimaryState(from, state);
            else if (m.Digest is { } digest)
                OnDigest(from, digest);
            else if (m.DigestAsk is { } digestAsk)
                OnDigestAsk(from, digestAsk);
            else if (m.FetchRequest is { } fetch)
                OnFetchRequest(from, fetch);
            else if (m.ReconcileDone is { } done)
                OnReconcileDone(from, done);
            else if (m.MemberReady is { } ready)
                OnMemberReady(from, ready);
            else if (m.LeaseCheck is { } check)
                OnLeaseCheck(from, check);
            else if (m.HoldRequest is { } hold)
                OnHoldRequest(from, hold);
            else if (m.OutcomeRequest is { } outcome)
                OnOutcomeRequest(from, outcome);
            else if (m.LockReply is { } lockReply)
                OnLockReply(from, lockReply, m);
            else
                CompleteCall(from, m);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogDispatchFailed(StoreCodec.KindOf(m), from, ex);
        }
    }

    private void CompleteCall(string from, Envelope reply)
    {
        var id = reply.CommitReply?.RequestId ?? reply.ReadReply?.RequestId ?? reply.FetchReply?.RequestId
            ?? reply.HoldReply?.RequestId ?? reply.OutcomeReply?.RequestId ?? reply.LeaseReply?.RequestId
            ?? reply.ReconcileAck?.RequestId ?? 0;
        if (id != 0)
            _calls.Complete(id, from, reply);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Store {NodeId} starting ({Kind})")]
    private partial void LogStarting(string nodeId, string kind);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Leaving the group did not complete cleanly")]
    private partial void LogLeaveFailed(Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Background store work did not finish at shutdown ({Reason})")]
    private partial void LogBackgroundUnfinished(string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not send to {Node}")]
    private partial void LogSendFailed(string node, Exception ex);

    [LoggerMessage(Level = LogLevel.Error, Message = "Store maintenance failed; retrying at the next tick")]
    private partial void LogTickFailed(Exception ex);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped a malformed store message from {Sender} ({Length} bytes)")]
    private partial void LogMalformed(string sender, int length);

    [LoggerMessage(Level = LogLevel.Error, Message = "Handling {Kind} from {Sender} failed")]
    private partial void LogDispatchFailed(string kind, string sender, Exception ex);
}
