using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Multicast.Messaging.Internal;
using Multicast.Transport;

namespace Multicast.Messaging;

/// <summary>
/// The reliable group channel over any <see cref="ITransport"/>: sequence numbers, NAK repair, acknowledgements,
/// fragmentation, batching, membership views and datagram authentication (protocol in docs/messaging.md).
/// </summary>
/// <remarks>
/// <para>The channel owns the transport: it starts it in <see cref="StartAsync"/> and disposes it in
/// <see cref="DisposeAsync"/>. The transport must deliver <see cref="ITransport.SendTo"/> to its own
/// <see cref="ITransport.LocalAddress"/>: the channel hands view changes to its receive thread that way.</para>
/// <para>The handler is called on the transport's receive thread only, one call at a time; timers (repair,
/// heartbeats, acknowledgements) run on timer threads and never call it.</para>
/// </remarks>
public sealed partial class ReliableGroupChannel : IGroupChannel
{
    private readonly object _gate = new();
    private readonly ITransport _transport;
    private readonly GroupChannelOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly ChannelCounters _counters = new();
    private readonly DatagramProtector _protector;
    private readonly Receiver _receiver;
    private readonly Meter _meter;
    private readonly uint _clusterHash;
    private readonly MemberKey _localKey;
    private readonly int _payloadCapacity;

    // Durations in TimeProvider timestamp units.
    private readonly long _heartbeatInterval, _suspectTimeout, _reorderGuard, _nakRetry, _ackInterval, _tailDelay,
        _sendTimeout, _joinTimeout, _joinRetry, _repairWindow;

    private Member? _local;
    private GroupHandler? _handler;
    private ITimer? _timer;
    private int _started;
    private bool _joining;
    private bool _left;
    private bool _disposed;
    private readonly TaskCompletionSource _joined = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _leaveConfirmed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Creates a channel over <paramref name="transport"/>; nothing happens until <see cref="StartAsync"/>.</summary>
    /// <param name="transport">The unreliable transport; the channel owns it from now on.</param>
    /// <param name="options">The settings; validated here.</param>
    /// <param name="time">The clock for every timer; <see cref="TimeProvider.System"/> when null.</param>
    /// <param name="loggers">Where to log; nowhere when null.</param>
    /// <exception cref="OptionsValidationError">A setting is invalid.</exception>
    public ReliableGroupChannel(ITransport transport, GroupChannelOptions options, TimeProvider? time = null, ILoggerFactory? loggers = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (options.ClusterKey is null && !options.AllowInsecure && !transport.IsLoopback)
        {
            throw new OptionsValidationError($"{GroupChannelOptions.SectionName}:{nameof(GroupChannelOptions.ClusterKey)}",
                "is required when the group is reachable from other machines (the transport's interface is not loopback): generate one with " +
                "'openssl rand -base64 32' and set the same Cluster:ClusterKey on every node, or set Cluster:AllowInsecure=true to run " +
                "without authentication (anyone who can reach the group can then read, forge and disrupt its traffic)");
        }
        _transport = transport;
        _options = options;
        _time = time ?? TimeProvider.System;
        _log = (loggers ?? NullLoggerFactory.Instance).CreateLogger<ReliableGroupChannel>();
        _clusterHash = Fnv.Hash32(options.ClusterId);
        _localKey = new MemberKey(Fnv.Hash32(options.NodeId), NewIncarnation(_time));
        _protector = new DatagramProtector(DatagramProtector.ParseKey(options.ClusterKey), options.Encrypt, _localKey.Hash, _localKey.Incarnation);
        _payloadCapacity = options.DatagramSize - PacketHeader.Size - _protector.Overhead;
        _receiver = new Receiver(this);
        _bcast = new SendStream(null, NewIncarnation(_time));
        _txScratch = new byte[options.DatagramSize];
        _txBatch = new byte[Math.Max(options.DatagramSize, Math.Min(MaxBatchBytes, MaxFlushPackets * options.DatagramSize))];
        _maxPooledPackets = (int)Math.Min(65_536, options.SendWindowBytes / options.DatagramSize + 1);
        _rxScratch = new byte[options.DatagramSize];
        _controlBuffer = new byte[options.DatagramSize];

        _heartbeatInterval = Ticks(options.HeartbeatInterval);
        _suspectTimeout = Ticks(options.SuspectTimeout);
        _reorderGuard = Ticks(options.ReorderGuard);
        _nakRetry = Ticks(options.NakRetryInterval);
        _ackInterval = Ticks(options.AckInterval);
        _tailDelay = Ticks(options.TailDelay);
        _sendTimeout = Ticks(options.SendTimeout);
        _joinTimeout = Ticks(options.JoinTimeout);
        _joinRetry = Ticks(options.JoinRetryInterval);
        _slowMemberTimeout = Ticks(options.SlowMemberTimeout ?? options.SuspectTimeout);
        // A receive thread on one datagram, or a timer, this much late: this node itself stalled.
        _stallThreshold = _heartbeatInterval;
        // Several receivers asking for one packet within this window get one multicast repair.
        _repairWindow = Math.Max(Ticks(TimeSpan.FromMilliseconds(1)), Math.Min(_nakRetry / 2, _reorderGuard * 4));
        // Safety rails for the measured retry timeout: not below what a busy receive thread needs to read a repair
        // burst; not above ten initial timeouts, so that round trips inflated by a starved machine (a descheduled
        // receive thread measures its own delay) cost a lost repair tens of milliseconds, not hundreds.
        _minRetryTimeout = Ticks(MinRetryTimeout);
        _maxRetryTimeout = 10 * _nakRetry;

        _meter = new Meter("Multicast");
        CreateInstruments();
    }

    /// <inheritdoc />
    /// <remarks>Once a view is installed this is the member as that view lists it (its <see cref="Member.RingIndex"/> is the
    /// one the coordinator assigned; it differs from <see cref="Member.RingIndexOf"/> only after a collision).</remarks>
    public Member LocalMember => _local ?? throw new InvalidOperationException("The channel is not started.");

    /// <inheritdoc />
    public MembershipView View
    {
        get
        {
            lock (_gate)
                return _view;
        }
    }

    /// <summary>The channel's settings, as validated at construction.</summary>
    internal GroupChannelOptions Options => _options;

    /// <summary>What the channel has done so far (datagrams, deliveries, repairs, rejections).</summary>
    public ChannelCounters Counters => _counters;

    /// <inheritdoc />
    public async ValueTask StartAsync(GroupHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Interlocked.CompareExchange(ref _started, 1, 0) != 0)
            throw new InvalidOperationException("The channel was started already.");
        if (_options.DatagramSize > _transport.MaxDatagramSize)
        {
            throw new OptionsValidationError($"{GroupChannelOptions.SectionName}:{nameof(GroupChannelOptions.DatagramSize)}",
                $"must be at most {_transport.MaxDatagramSize}, the largest datagram of the transport");
        }
        _handler = handler;
        await _transport.StartAsync(_receiver, cancellationToken);
        _sendThread = new Thread(SendLoop) { IsBackground = true, Name = SendThreadName };
        _sendThread.Start();
        var local = new Member(_options.NodeId, _localKey.Incarnation, _transport.LocalAddress, _options.PublicAddress);
        if (!_protector.HasKey)
            Log.NoClusterKey(_log, _options.ClusterId);
        lock (_gate)
        {
            _local = local;
            _timer = _time.CreateTimer(static state => ((ReliableGroupChannel)state!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _joining = true;
            _joinStarted = Now;
            _lastJoinSent = Now;
            SendJoin();
            Schedule(Now + _joinRetry);
        }
        Log.Joining(_log, local.ToString(), _transport.LocalAddress);
        await _joined.Task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<long> BroadcastAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default)
    {
        CheckMessage(message.Length);
        long sequence;
        PendingSend? pending;
        lock (_gate)
        {
            ThrowIfNotMember();
            sequence = Submit(_bcast, message.Span, cancellationToken, out pending);
        }
        RequestFlush();
        return pending is null ? new ValueTask<long>(sequence) : new ValueTask<long>(pending.Completion.Task);
    }

    /// <inheritdoc />
    public ValueTask SendAsync(string nodeId, ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(nodeId);
        CheckMessage(message.Length);
        PendingSend? pending;
        lock (_gate)
        {
            ThrowIfNotMember();
            PeerState? peer = null;
            foreach (var p in _peers.Values)
            {
                if (p.Member.NodeId == nodeId)
                {
                    peer = p;
                    break;
                }
            }
            if (peer is null)
                throw new InvalidOperationException($"No member '{nodeId}' in {_view}.");
            peer.UnicastSend ??= new SendStream(peer, peer.UnicastEpoch);
            Submit(peer.UnicastSend, message.Span, cancellationToken, out pending);
        }
        RequestFlush();
        return pending is null ? ValueTask.CompletedTask : new ValueTask(pending.Completion.Task);
    }

    /// <inheritdoc />
    public Task WaitForAcksAsync(long sequence, int members, CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            var waiter = new AckWaiter(sequence, members);
            if (IsSatisfied(waiter))
                return Task.CompletedTask;
            ObjectDisposedException.ThrowIf(_disposed, this);
            _ackWaiters.Add(waiter);
            // Receivers may hold their acks until the end of the ack interval; a tail asks them for it now. While a flush
            // is sending, the flush sends it as it ends: sent now, it would overtake the packets and announce a gap.
            if (_flushing || _txQueue.Count > 0)
                _tailWanted = true;
            else if (_bcast.HighestTransmitted > 0 && _peers.Count > 0)
                SendTail(_bcast);
            if (cancellationToken.CanBeCanceled)
            {
                waiter.Registration = cancellationToken.UnsafeRegister(static (state, token) =>
                {
                    var (channel, w) = ((ReliableGroupChannel, AckWaiter))state!;
                    lock (channel._gate)
                        channel._ackWaiters.Remove(w);
                    w.Completion.TrySetCanceled(token);
                }, (this, waiter));
            }
            return waiter.Completion.Task;
        }
    }

    /// <inheritdoc />
    /// <remarks>Waits until every addressee acknowledged what this member sent (broadcasts and unicasts), then announces the departure
    /// until a view without this member comes back; both within the shorter of the send and suspect timeouts
    /// (after that the peers suspect it anyway). Further sends throw.</remarks>
    public async ValueTask LeaveAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            if (_local is null || _left || _disposed || _view.Id == 0)
                return;
        }
        var budget = _options.SendTimeout < _options.SuspectTimeout ? _options.SendTimeout : _options.SuspectTimeout;
        var deadline = Now + Ticks(budget);
        // Everything sent so far — broadcasts and unicasts (replication, replies) — reaches its addressees
        // before this member announces its departure.
        while (!Drained())
        {
            if (Now >= deadline)
            {
                Log.LeaveUnacknowledged(_log, _bcast.NextMessage - 1);
                break;
            }
            await Task.Delay(TimeSpan.FromMilliseconds(5), _time, cancellationToken);
        }
        bool alone;
        lock (_gate)
        {
            if (_left)
                return;
            _left = true;
            alone = _peers.Count == 0;
            SendLeave(_view.Id);
        }
        // Repeated until a view without this member comes back: a lost Leave would otherwise leave the peers
        // waiting for suspicion. At least three copies go out.
        if (!alone && Now >= deadline)
        {
            lock (_gate)
            {
                SendLeave(_view.Id);
                SendLeave(_view.Id);
            }
        }
        while (!alone && Now < deadline && !cancellationToken.IsCancellationRequested)
        {
            try
            {
                await _leaveConfirmed.Task.WaitAsync(_options.JoinRetryInterval, _time, cancellationToken);
                break;
            }
            catch (TimeoutException)
            {
                lock (_gate)
                {
                    if (_disposed)
                        break;
                    SendLeave(_view.Id);
                }
            }
        }
        Log.Left(_log, _local!.ToString());
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        bool wasMember;
        lock (_gate)
        {
            if (_disposed)
                return;
            wasMember = _view.Id != 0 && !_left;
        }
        if (wasMember)
        {
            try
            {
                using var cts = new CancellationTokenSource(_options.SendTimeout, _time);
                await LeaveAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
        List<PendingSend> pending;
        List<AckWaiter> waiters;
        lock (_gate)
        {
            _disposed = true;
            pending = [.. _bcast.Pending];
            _bcast.Pending.Clear();
            foreach (var peer in _peers.Values)
            {
                if (peer.UnicastSend is { } stream)
                {
                    pending.AddRange(stream.Pending);
                    stream.Pending.Clear();
                }
            }
            waiters = [.. _ackWaiters];
            _ackWaiters.Clear();
            foreach (var peer in _peers.Values)
            {
                peer.Broadcast.Release();
                peer.Unicast?.Release();
            }
        }
        await StopSendLoopAsync();
        if (_timer is not null)
            await _timer.DisposeAsync();
        foreach (var p in pending)
        {
            p.Registration.Unregister();
            p.Completion.TrySetException(new ObjectDisposedException(nameof(ReliableGroupChannel)));
        }
        foreach (var w in waiters)
        {
            w.Registration.Unregister();
            w.Completion.TrySetException(new ObjectDisposedException(nameof(ReliableGroupChannel)));
        }
        await _transport.DisposeAsync();
        lock (_txLock)
            _protector.Dispose();
        _meter.Dispose();
    }

    private bool Drained()
    {
        lock (_gate)
        {
            if (_bcast.Pending.Count > 0 || _txQueue.Count > 0 || _peers.Count > 0 && _bcast.Unacked.Count > 0)
                return false;
            foreach (var peer in _peers.Values)
            {
                if (peer.UnicastSend is { Unacked.Count: > 0 } or { Pending.Count: > 0 })
                    return false;
            }
            return true;
        }
    }

    private void CheckMessage(int length)
    {
        if (length > _options.MaxMessageBytes)
        {
            throw new ArgumentException(
                $"The message has {length} bytes; Cluster:MaxMessageBytes allows {_options.MaxMessageBytes}.", "message");
        }
    }

    private void ThrowIfNotMember()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_left)
            throw new InvalidOperationException("The channel left the group.");
        if (_view.Id == 0)
            throw new InvalidOperationException("The channel has not joined the group yet; await StartAsync.");
    }

    private long Now => _time.GetTimestamp();

    /// <summary>The clock of every timer and timestamp of this channel.</summary>
    internal TimeProvider Time => _time;

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    private static long s_lastIncarnation;

    /// <summary>Microseconds since the epoch, strictly increasing within the process: a restart is newer. Stream epochs
    /// come from the same sequence, so a stream started later has a larger epoch.</summary>
    private static long NewIncarnation(TimeProvider time)
    {
        var candidate = (time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks / 10;
        while (true)
        {
            var last = Interlocked.Read(ref s_lastIncarnation);
            var next = Math.Max(candidate, last + 1);
            if (Interlocked.CompareExchange(ref s_lastIncarnation, next, last) == last)
                return next;
        }
    }

    private void CreateInstruments()
    {
        var tags = new KeyValuePair<string, object?>("node.id", _options.NodeId);
        void Add(string name, Func<long> read, string description) =>
            _meter.CreateObservableCounter(name, () => new Measurement<long>(read(), tags), unit: null, description);
        var c = _counters;
        Add("multicast.channel.datagrams_sent", () => c.DatagramsSent, "Datagrams handed to the transport.");
        Add("multicast.channel.datagrams_received", () => c.DatagramsReceived, "Datagrams received.");
        Add("multicast.channel.messages_sent", () => c.MessagesSent, "Messages sent.");
        Add("multicast.channel.delivered", () => c.Delivered, "Messages delivered to the handler.");
        Add("multicast.channel.naks_sent", () => c.NaksSent, "NAKs sent.");
        Add("multicast.channel.naks_received", () => c.NaksReceived, "NAKs received.");
        Add("multicast.channel.retransmissions", () => c.Retransmissions, "Packets repaired.");
        Add("multicast.channel.multicast_repairs", () => c.MulticastRepairs, "Packets repaired by multicast.");
        Add("multicast.channel.duplicates", () => c.Duplicates, "Duplicate data packets ignored.");
        Add("multicast.channel.rejected_malformed", () => c.RejectedMalformed, "Malformed datagrams dropped.");
        Add("multicast.channel.rejected_forged", () => c.RejectedForged, "Datagrams failing authentication dropped.");
        Add("multicast.channel.rejected_replayed", () => c.RejectedReplayed, "Replayed datagrams dropped.");
        Add("multicast.channel.rejected_oversize", () => c.RejectedOversize, "Oversize datagrams dropped.");
        Add("multicast.channel.rejected_foreign_cluster", () => c.RejectedForeignCluster, "Datagrams of other clusters dropped.");
        Add("multicast.channel.unknown_sender", () => c.UnknownSender, "Datagrams from senders outside the view dropped.");
        Add("multicast.channel.view_changes", () => c.ViewChanges, "Views installed.");
        Add("multicast.channel.send_window_timeouts", () => c.SendWindowTimeouts, "Sends that timed out on a full window.");
        Add("multicast.channel.handler_errors", () => c.HandlerErrors, "Handler exceptions.");
        Add("multicast.channel.send_errors", () => c.SendErrors, "Datagrams the transport refused.");
        Add("multicast.channel.rejected_membership", () => c.RejectedMembership, "Membership messages not believed.");
        Add("multicast.channel.rejected_acks", () => c.RejectedAcks, "Acknowledgements for more than was sent.");
        Add("multicast.channel.view_retransmissions", () => c.ViewRetransmissions, "View datagrams sent again.");
        Add("multicast.channel.slow_members", () => c.SlowMembers, "Members reported for holding the broadcast window.");
        Add("multicast.channel.local_stalls", () => c.LocalStalls, "Own stalls not counted against peers.");
        Add("multicast.channel.exclusions", () => c.Exclusions, "Times this member was removed while alive.");
        Add("multicast.channel.repairs_throttled", () => c.RepairsThrottled, "Repairs not sent: the asker used up its repair budget.");
        Add("multicast.channel.stale_stream", () => c.StaleStream, "Datagrams of a member's previous stream epoch ignored.");
    }

    /// <summary>Keeps <see cref="IDatagramHandler"/> off the channel's public surface.</summary>
    private sealed class Receiver(ReliableGroupChannel channel) : IDatagramHandler
    {
        public void OnDatagram(ReadOnlySpan<byte> datagram) => channel.OnDatagram(datagram);

        public void OnReceiveIdle() => channel.OnReceiveIdle();
    }
}
