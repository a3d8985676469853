using System.Collections.Concurrent;
using System.Reflection;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Multicast.Transport;
using NetMQ;
using NetMQ.Sockets;

namespace Multicast.Transports.ZeroMq;

/// <summary>
/// ZeroMQ pub/sub as an <see cref="ITransport"/>, on NetMQ (pure managed; ZMTP 3 on the wire, so libzmq peers
/// interoperate).
/// </summary>
/// <remarks>
/// <para>Group datagrams: this node's PUB socket binds <see cref="ZeroMqTransportOptions.PublishEndpoint"/>; its SUB
/// socket connects to every peer's PUB (<see cref="ZeroMqTransportOptions.Peers"/>, <see cref="AddPeer"/>, or the
/// beacon) and subscribes to everything. Unicast: a ROUTER socket binds <see cref="ZeroMqTransportOptions.UnicastEndpoint"/>
/// (<see cref="LocalAddress"/>); <see cref="SendTo"/> sends through a DEALER socket per destination, connected on first
/// use and closed after <see cref="UnicastIdleTimeout"/> unused. A datagram to this node's own address is handed to
/// its own handler on the poller thread, without a socket.</para>
/// <para>Every datagram is one single-frame ZeroMQ message, and a batch (<see cref="SendBatchToGroup"/>) a two-frame one
/// (a marker frame, then the datagrams with their lengths; docs/zeromq.md): no topic frame, no envelope (the ROUTER adds the sending
/// connection's routing id in front, which the transport drops). With <see cref="ZeroMqTransportOptions.CurveServerSecretKey"/>
/// every connection is CURVE-authenticated and encrypted.</para>
/// <para>Threads: one thread named <see cref="ThreadName"/> runs a <see cref="NetMQPoller"/> that owns every socket:
/// it creates, binds, connects, sends, receives and disposes them. Other threads copy their datagrams into NetMQ
/// messages, write them to a bounded queue and wake the poller through a <see cref="NetMQQueue{T}"/> (once per
/// batch). Received datagrams are handed to <see cref="IDatagramHandler.OnDatagram"/> on that thread, straight from
/// NetMQ's message buffer. The poller never blocks: every send and receive on it is non-blocking.</para>
/// <para>Like every transport it may lose datagrams: PUB/SUB drops before a subscription reaches the publisher and past
/// a high-water mark. The reliable group channel repairs that.</para>
/// </remarks>
public sealed class ZeroMqTransport : ITransport
{
    /// <summary>The name of the thread that runs the poller and owns the sockets.</summary>
    public const string ThreadName = "Multicast ZeroMQ";

    /// <summary>How long a DEALER socket to one destination stays open without being used.</summary>
    public static readonly TimeSpan UnicastIdleTimeout = TimeSpan.FromMinutes(2);

    // Datagrams waiting for the poller; beyond this many the newest are dropped (and counted).
    private const int SendQueueCapacity = 16_384;

    // How long a dispose waits for NetMQ to close the listening sockets (so that their ports are free again).
    private static readonly TimeSpan UnbindTimeout = TimeSpan.FromSeconds(2);

    // Per turn at most this many datagrams are sent and this many received per socket, so neither starves the other.
    private const int BatchSize = 512;

    private static readonly string NetMqVersion =
        typeof(NetMQPoller).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(NetMQPoller).Assembly.GetName().Version?.ToString() ?? "?";

    private readonly ZeroMqTransportOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<Outgoing> _sendQueue;
    private readonly ConcurrentQueue<string> _peersToConnect = new();
    private readonly HashSet<string> _connectedPeers = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<ConnectionMonitor> _monitors = [];
    private readonly object _wakeGate = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ZeroMqBeacon? _beacon;
    private IDatagramHandler? _handler;
    private Thread? _thread;
    private NetMQPoller? _poller;
    private NetMQQueue<bool>? _wake;
    private NetMQTimer? _idleTimer;
    private PublisherSocket? _pub;
    private SubscriberSocket? _sub;
    private RouterSocket? _router;
    private UnicastSockets? _unicast;
    private ConnectionMonitor? _pubMonitor;
    private ConnectionMonitor? _routerMonitor;
    private Msg _frame;
    private readonly byte[] _marker = DatagramBatch.Marker.ToArray();
    private int _deliveredSinceIdle;
    private int _wakePending;
    private int _pollerThreadId = -1;
    private bool _ownSendsQueued;
    private int _startCalled;
    private int _disposed;
    private volatile bool _stopping;
    private volatile bool _running;
    private string _localAddress = string.Empty;
    private string _publishAddress = string.Empty;

    /// <summary>Creates the transport; nothing is bound before <see cref="StartAsync"/>.</summary>
    /// <param name="options">The options; validated at <see cref="StartAsync"/>.</param>
    /// <param name="logger">Where the transport logs; none when <see langword="null"/>.</param>
    /// <param name="timeProvider">The clock for idle connections and the handshake window; the system clock when <see langword="null"/>.</param>
    public ZeroMqTransport(ZeroMqTransportOptions options, ILogger<ZeroMqTransport>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        _sendQueue = Channel.CreateBounded<Outgoing>(
            new BoundedChannelOptions(SendQueueCapacity)
            {
                SingleReader = true,
                SingleWriter = false,
                FullMode = BoundedChannelFullMode.DropWrite,
                AllowSynchronousContinuations = false,
            },
            Drop);
    }

    /// <summary>The bound ROUTER endpoint (e.g. <c>tcp://127.0.0.1:40123</c>), with <see cref="ZeroMqTransportOptions.AdvertisedHost"/>
    /// applied; empty before <see cref="StartAsync"/>.</summary>
    public string LocalAddress => _localAddress;

    /// <summary>The endpoint peers' SUB sockets connect to: the bound PUB endpoint; empty before <see cref="StartAsync"/>.
    /// Give it to the other nodes as one of their <see cref="ZeroMqTransportOptions.Peers"/>.</summary>
    public string PublishAddress => _publishAddress;

    /// <inheritdoc />
    public int MaxDatagramSize => _options.MaxDatagramSize;

    /// <inheritdoc />
    /// <remarks>When every endpoint it binds or connects to is on this machine (tcp on a loopback address or localhost)
    /// and the beacon, if enabled, runs on a loopback interface.</remarks>
    public bool IsLoopback => _options.StaysOnHost();

    internal ZeroMqCounters Counters { get; } = new();

    /// <summary>The managed thread that runs the poller; <see langword="null"/> before <see cref="StartAsync"/>.</summary>
    internal Thread? PollerThread => _thread;

    /// <inheritdoc />
    /// <exception cref="OptionsValidationError">An option is invalid.</exception>
    /// <exception cref="ZeroMqException">An endpoint could not be bound or connected; the message names its key.</exception>
    /// <exception cref="InvalidOperationException">The beacon could not join its multicast group.</exception>
    public async ValueTask StartAsync(IDatagramHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _options.Validate();
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _startCalled, 1) != 0)
            throw new InvalidOperationException("The transport was already started.");

        _handler = handler;
        _thread = new Thread(Run) { Name = ThreadName, IsBackground = true };
        _thread.Start();
        await _started.Task.WaitAsync(cancellationToken).ConfigureAwait(false);

        if (_options.BeaconEnabled)
        {
            _beacon = new ZeroMqBeacon(_options, _publishAddress, AddPeer, _logger);
            try
            {
                _beacon.Start();
            }
            catch (System.Net.Sockets.SocketException e)
            {
                throw new InvalidOperationException(
                    $"The ZeroMQ beacon could not join {_options.BeaconGroup}:{_options.BeaconPort} on {_options.BeaconInterface}: {e.Message}. " +
                    "Check Cluster:ZeroMq:BeaconGroup, BeaconPort and BeaconInterface, or set Cluster:ZeroMq:BeaconEnabled=false and list Cluster:ZeroMq:Peers.", e);
            }
        }
    }

    /// <inheritdoc />
    public void SendToGroup(ReadOnlySpan<byte> datagram) => Enqueue(null, datagram);

    /// <inheritdoc />
    public void SendTo(string address, ReadOnlySpan<byte> datagram)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        Enqueue(address, datagram);
    }

    /// <inheritdoc />
    /// <remarks>The datagrams go as few ZeroMQ messages (batch frames of up to 64 KiB; docs/zeromq.md) through one
    /// handoff to the poller: NetMQ's cost is per message.</remarks>
    public void SendBatchToGroup(ReadOnlySpan<byte> datagrams, ReadOnlySpan<int> lengths) => EnqueueBatch(null, datagrams, lengths);

    /// <inheritdoc />
    /// <remarks>As <see cref="SendBatchToGroup"/>, over the DEALER to <paramref name="address"/>.</remarks>
    public void SendBatchTo(string address, ReadOnlySpan<byte> datagrams, ReadOnlySpan<int> lengths)
    {
        ArgumentException.ThrowIfNullOrEmpty(address);
        EnqueueBatch(address, datagrams, lengths);
    }

    /// <summary>Connects the SUB socket to one more peer's PUB endpoint (its <see cref="PublishAddress"/>); idempotent,
    /// thread-safe. Peers joining after start, and the beacon, come in this way.</summary>
    public void AddPeer(string publishEndpoint)
    {
        ArgumentException.ThrowIfNullOrEmpty(publishEndpoint);
        _peersToConnect.Enqueue(publishEndpoint);
        Signal();
    }

    /// <summary>Stops once: the poller thread stops, disposes every socket (linger 0: unsent datagrams are dropped and
    /// counted) and ends; completes when it has. Afterwards <see cref="NetMQConfig.Cleanup(bool)"/> has nothing of this
    /// transport left to wait for.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            await _stopped.Task.ConfigureAwait(false);
            return;
        }
        if (_beacon is not null)
            await _beacon.DisposeAsync().ConfigureAwait(false);
        _stopping = true;
        if (Volatile.Read(ref _startCalled) == 0)
        {
            _sendQueue.Writer.TryComplete();
            _stopped.TrySetResult();
            return;
        }
        // Directly, not through the wake flag: stopping must never depend on another wakeup. Before the poller runs
        // the poller thread sees the flag instead (under the same lock).
        lock (_wakeGate)
        {
            _wake?.Enqueue(true);
        }
        await _stopped.Task.ConfigureAwait(false);
        if (_thread is { } thread && thread != Thread.CurrentThread)
            await Task.Run(thread.Join).ConfigureAwait(false);
    }

    private void Enqueue(string? address, ReadOnlySpan<byte> datagram)
    {
        CheckSize(datagram.Length);
        if (!_running)
        {
            Counters.OnDropped();
            return;
        }
        var message = new Msg();
        message.InitPool(datagram.Length);
        datagram.CopyTo(message.Slice());
        if (Queue(new Outgoing(message, address, 1)))
            Wake();
    }

    private void EnqueueBatch(string? address, ReadOnlySpan<byte> datagrams, ReadOnlySpan<int> lengths)
    {
        TransportBatch.Check(datagrams.Length, lengths);
        foreach (var length in lengths)
            CheckSize(length);
        if (!_running)
        {
            Counters.OnDropped(lengths.Length);
            return;
        }
        var frameLimit = DatagramBatch.FrameLimit(_options.MaxDatagramSize);
        var queued = false;
        while (!lengths.IsEmpty)
        {
            var (count, size) = DatagramBatch.Take(lengths, frameLimit);
            var bytes = 0;
            foreach (var length in lengths[..count])
                bytes += length;
            var message = new Msg();
            if (count == 1)
            {
                message.InitPool(bytes);
                datagrams[..bytes].CopyTo(message.Slice());
            }
            else
            {
                message.InitPool(size);
                DatagramBatch.Write(datagrams, lengths[..count], message.Slice());
            }
            queued |= Queue(new Outgoing(message, address, count));
            datagrams = datagrams[bytes..];
            lengths = lengths[count..];
        }
        if (queued)
            Wake();
    }

    private void CheckSize(int length)
    {
        if (length > _options.MaxDatagramSize)
            throw new ArgumentException($"The datagram has {length} bytes; the largest is {_options.MaxDatagramSize} (Cluster:ZeroMq:MaxDatagramSize).", "datagram");
    }

    /// <summary>Writes to the send queue; false (dropped and counted) when the transport stopped meanwhile. A full queue
    /// drops the item through its callback (<see cref="Drop"/>) and returns true.</summary>
    private bool Queue(Outgoing item)
    {
        if (_sendQueue.Writer.TryWrite(item))
            return true;
        Drop(item);
        return false;
    }

    private void Drop(Outgoing item)
    {
        var message = item.Message;
        message.Close();
        Counters.OnDropped(item.Count);
    }

    // One queue item per batch: only the enqueuer that flips the flag wakes the poller; the poller drains the wake
    // queue, then clears the flag, then reads the send queue, so anything queued after that wakes it again.
    // The poller thread itself (the handler answering a datagram: acks, repairs, views) does not signal itself through
    // NetMQ's socket pair: what it queued is sent at the end of its current turn (FlushOwnSends).
    private void Wake()
    {
        if (Environment.CurrentManagedThreadId == _pollerThreadId)
        {
            _ownSendsQueued = true;
            return;
        }
        Signal();
    }

    private void Signal()
    {
        if (Interlocked.Exchange(ref _wakePending, 1) != 0)
            return;
        // Under the lock the poller thread disposes the queue with: once it is gone, what is queued is dropped and
        // counted by the poller thread's close.
        lock (_wakeGate)
        {
            _wake?.Enqueue(true);
        }
    }

    // ---- The poller thread: everything below runs on it. ----

    private void Run()
    {
        _pollerThreadId = Environment.CurrentManagedThreadId;
        try
        {
            Open();
        }
        catch (Exception e)
        {
            Close();
            _stopped.TrySetResult();
            _started.TrySetException(e);
            return;
        }

        bool stopping;
        lock (_wakeGate)
            stopping = _stopping;
        _running = !stopping;
        _started.TrySetResult();
        try
        {
            if (!stopping)
                _poller!.Run();
        }
        catch (Exception e)
        {
            ZeroMqLog.LoopFailed(_logger, e);
        }
        finally
        {
            _running = false;
            Close();
            _stopped.TrySetResult();
        }
    }

    private void Open()
    {
        var curve = CurveKeys.From(_options);
        var factory = new SocketFactory(_options, curve);
        _frame.InitEmpty();
        _poller = new NetMQPoller();
        var wake = new NetMQQueue<bool>();
        wake.ReceiveReady += (_, _) => OnWake();
        _poller.Add(wake);
        lock (_wakeGate)
        {
            _wake = wake;
            // A peer added before the queue existed set the wake flag without waking anything: every later Wake()
            // would skip the queue. Wake the poller once now; its first turn clears the flag.
            if (Volatile.Read(ref _wakePending) != 0)
                wake.Enqueue(true);
        }
        _idleTimer = new NetMQTimer(UnicastIdleTimeout);
        _idleTimer.Elapsed += (_, _) => _unicast?.CloseIdle(UnicastIdleTimeout);
        _poller.Add(_idleTimer);
        _unicast = new UnicastSockets(factory, _time, _logger);

        const string Prefix = ZeroMqTransportOptions.SectionName + ":";
        _pub = factory.Publisher();
        Bind(_pub, Prefix + nameof(ZeroMqTransportOptions.PublishEndpoint), _options.PublishEndpoint);
        _publishAddress = Announced(_pub.Options.LastEndpoint ?? _options.PublishEndpoint);
        // In the poller although nothing is read from it: NetMQ then processes its commands (the subscribers' flow
        // control among them) as they come, not only at the next send.
        _poller.Add(_pub);
        _pubMonitor = Watch(_pub, "PUB");

        _router = factory.Router();
        Bind(_router, Prefix + nameof(ZeroMqTransportOptions.UnicastEndpoint), _options.UnicastEndpoint);
        _localAddress = Announced(_router.Options.LastEndpoint ?? _options.UnicastEndpoint);
        _router.ReceiveReady += (_, _) => Receive(_router, routed: true);
        _poller.Add(_router);
        _routerMonitor = Watch(_router, "ROUTER");

        _sub = factory.Subscriber();
        _sub.ReceiveReady += (_, _) => Receive(_sub, routed: false);
        _poller.Add(_sub);
        Watch(_sub, "SUB");
        for (var i = 0; i < _options.Peers.Count; i++)
            ConnectPeer(_options.Peers[i], $"{Prefix}{nameof(ZeroMqTransportOptions.Peers)}:{i}");

        ZeroMqLog.Started(_logger, NetMqVersion, factory.Curve ? "CURVE" : "no CURVE", _publishAddress, _localAddress, _connectedPeers.Count);
    }

    private ConnectionMonitor Watch(NetMQSocket socket, string name)
    {
        var monitor = new ConnectionMonitor(socket, name, _poller!, Counters, _time, _logger);
        _monitors.Add(monitor);
        return monitor;
    }

    /// <summary>The names NetMQ may keep a bound endpoint under: the host as given with the bound port (what it
    /// records), the resolved endpoint, the endpoint as configured.</summary>
    private static IEnumerable<string> BoundNames(string configured, NetMQSocket socket)
    {
        var last = socket.Options.LastEndpoint;
        const string Tcp = "tcp://";
        if (last is not null && configured.StartsWith(Tcp, StringComparison.OrdinalIgnoreCase))
        {
            var rest = configured[Tcp.Length..];
            var colon = rest.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
                yield return $"{Tcp}{rest[..colon]}{last[last.LastIndexOf(':')..]}";
        }
        if (last is not null)
            yield return last;
        yield return configured;
    }

    private static void Bind(NetMQSocket socket, string key, string endpoint)
    {
        try
        {
            socket.Bind(endpoint);
        }
        catch (Exception e) when (e is NetMQException or ArgumentException or System.Net.Sockets.SocketException)
        {
            throw new ZeroMqException(key, endpoint, "bind", e is AddressAlreadyInUseException ? "the address is in use" : e.Message, e);
        }
    }

    // The bound endpoint as peers should connect to it: a wildcard host becomes AdvertisedHost.
    private string Announced(string bound)
    {
        const string Tcp = "tcp://";
        if (!bound.StartsWith(Tcp, StringComparison.Ordinal))
            return bound;
        var colon = bound.LastIndexOf(':');
        var host = bound[Tcp.Length..colon];
        if (host is not ("0.0.0.0" or "[::]" or "*"))
            return bound;
        if (_options.AdvertisedHost is { } advertised)
            return $"{Tcp}{advertised}{bound[colon..]}";
        ZeroMqLog.WildcardAnnounced(_logger, bound);
        return bound;
    }

    /// <summary>Connects the SUB to a peer's PUB; a configured peer that NetMQ refuses fails the start, naming its
    /// key (<paramref name="key"/>); one added later is logged and skipped.</summary>
    private void ConnectPeer(string endpoint, string? key)
    {
        // The same peer list may go to every node: skip this node's own PUB.
        if (string.Equals(endpoint, _options.PublishEndpoint, StringComparison.OrdinalIgnoreCase)
            || string.Equals(endpoint, _publishAddress, StringComparison.OrdinalIgnoreCase)
            || _connectedPeers.Contains(endpoint))
            return;
        try
        {
            if (!ZeroMqTransportOptions.IsTcpEndpoint(endpoint, bind: false))
                throw new ArgumentException($"'{endpoint}' is not a tcp://host:port endpoint", nameof(endpoint));
            _sub!.Connect(endpoint);
            _connectedPeers.Add(endpoint);
            ZeroMqLog.PeerConnected(_logger, endpoint);
        }
        catch (Exception e) when (e is NetMQException or ArgumentException or System.Net.Sockets.SocketException)
        {
            if (key is not null)
                throw new ZeroMqException(key, endpoint, "connect", e.Message, e);
            ZeroMqLog.ConnectFailed(_logger, endpoint, e);
        }
    }

    private void OnWake()
    {
        // Drain the wake queue, then clear the flag (a full fence, so the send queue is read after it): whatever is
        // queued from now on wakes the poller again. In the other order a wakeup landing in between would be consumed
        // while the flag stayed set, and every later Wake() would skip the queue: a lost wakeup.
        while (_wake!.TryDequeue(out _, TimeSpan.Zero))
        {
        }
        Interlocked.Exchange(ref _wakePending, 0);
        if (_stopping)
        {
            _poller!.Stop();
            return;
        }
        while (_peersToConnect.TryDequeue(out var peer))
            ConnectPeer(peer, key: null);
        _ownSendsQueued = false;
        if (SendQueued())
        {
            // More than a batch is waiting: come back after the sockets had their turn.
            Signal();
        }
        ReportIdleIfQuiet();
        FlushOwnSends();
    }

    /// <summary>At the end of a poller turn: sends what the poller thread itself queued during it (a longer queue
    /// wakes the poller for another turn).</summary>
    private void FlushOwnSends()
    {
        while (_ownSendsQueued)
        {
            _ownSendsQueued = false;
            if (SendQueued())
            {
                Signal();
                return;
            }
        }
    }

    /// <summary>Sends up to a batch; true when more is waiting.</summary>
    private bool SendQueued()
    {
        var reader = _sendQueue.Reader;
        for (var i = 0; i < BatchSize; i++)
        {
            if (!reader.TryRead(out var item))
                return false;
            var message = item.Message;
            try
            {
                SendOne(ref message, item.Address, item.Count);
            }
            catch (NetMQException e)
            {
                Counters.OnDropped(item.Count);
                ZeroMqLog.SendFailed(_logger, e);
            }
            finally
            {
                // Empty after a successful send (NetMQ took the buffer); the datagram's buffer otherwise.
                message.Close();
            }
        }
        return true;
    }

    /// <summary>Sends one queue item: one datagram, or (<paramref name="count"/> &gt; 1) a batch frame of that many.</summary>
    private void SendOne(ref Msg message, string? address, int count)
    {
        if (address is null)
        {
            // PUB never blocks and never refuses: past the high-water mark it drops silently (a whole message: a
            // batch's two frames go or are dropped together).
            if (count > 1)
                SendMarker(_pub!);
            _pub!.TrySend(ref message, TimeSpan.Zero, false);
            Counters.OnGroupSent(count);
            Counters.OnMessageSent();
            return;
        }
        if (string.Equals(address, _localAddress, StringComparison.Ordinal))
        {
            Counters.OnUnicastSent(count);
            if (count == 1)
                Deliver(message.Slice());
            else
                DeliverBatch(message.Slice());
            return;
        }
        // A DEALER takes both frames of a batch or neither: the first succeeds only with room for the message.
        if (_unicast!.To(address) is { } dealer && (count == 1 || SendMarker(dealer)) && dealer.TrySend(ref message, TimeSpan.Zero, false))
        {
            Counters.OnUnicastSent(count);
            Counters.OnMessageSent();
        }
        else
            Counters.OnDropped(count);
    }

    private bool SendMarker(NetMQSocket socket)
    {
        var marker = new Msg();
        marker.InitGC(_marker, _marker.Length);
        var sent = socket.TrySend(ref marker, TimeSpan.Zero, more: true);
        marker.Close();
        return sent;
    }

    /// <summary>Reads a batch from one socket. On the ROUTER each message is the sender's routing id, then the datagram.</summary>
    private void Receive(NetMQSocket socket, bool routed)
    {
        for (var i = 0; i < BatchSize; i++)
        {
            if (!socket.TryReceive(ref _frame, TimeSpan.Zero))
                break;
            if (routed)
            {
                // The routing id first; a routing id alone is not a datagram.
                if (!_frame.HasMore || !socket.TryReceive(ref _frame, TimeSpan.Zero))
                {
                    Counters.OnInvalid();
                    continue;
                }
            }
            if (_frame.HasMore)
            {
                ReceiveBatchOrSkip(socket);
                continue;
            }
            if (_frame.Size > _options.MaxDatagramSize)
            {
                // NetMQ's own limit leaves room for CURVE's framing, so a plain peer can get a little more through.
                Counters.OnInvalid();
                continue;
            }
            Deliver(_frame.Slice());
        }
        ReportIdleIfQuiet();
        FlushOwnSends();
    }

    /// <summary>After a first frame with more to come: a batch is the marker and one frame of datagrams; any other
    /// multi-frame message is not ours.</summary>
    private void ReceiveBatchOrSkip(NetMQSocket socket)
    {
        if (!DatagramBatch.IsMarker(_frame.Slice()) || !socket.TryReceive(ref _frame, TimeSpan.Zero))
        {
            SkipRestOfMessage(socket);
            return;
        }
        if (_frame.HasMore || _frame.Size > DatagramBatch.FrameLimit(_options.MaxDatagramSize))
        {
            SkipRestOfMessage(socket);
            return;
        }
        DeliverBatch(_frame.Slice());
    }

    private void DeliverBatch(ReadOnlySpan<byte> frame)
    {
        var reader = new DatagramBatch.Reader(frame, _options.MaxDatagramSize);
        while (reader.TryNext(out var datagram))
            Deliver(datagram);
        if (reader.Malformed)
            Counters.OnInvalid();
    }

    // A datagram is exactly one frame (or a batch, above); another multi-frame message is not ours.
    private void SkipRestOfMessage(NetMQSocket socket)
    {
        Counters.OnInvalid();
        while (_frame.HasMore && socket.TryReceive(ref _frame, TimeSpan.Zero))
        {
        }
    }

    private void Deliver(ReadOnlySpan<byte> datagram)
    {
        Counters.OnReceived();
        _deliveredSinceIdle++;
        try
        {
            _handler!.OnDatagram(datagram);
        }
        catch (Exception e)
        {
            ZeroMqLog.HandlerFailed(_logger, e);
        }
    }

    // Nothing left to read after a burst: the channel acknowledges now rather than at its ack timer.
    private void ReportIdleIfQuiet()
    {
        if (_deliveredSinceIdle == 0 || _sub!.HasIn || _router!.HasIn)
            return;
        _deliveredSinceIdle = 0;
        try
        {
            _handler!.OnReceiveIdle();
        }
        catch (Exception e)
        {
            ZeroMqLog.HandlerFailed(_logger, e);
        }
    }

    private void Close()
    {
        _sendQueue.Writer.TryComplete();
        while (_sendQueue.Reader.TryRead(out var item))
            Drop(item);
        // The poller has stopped (or never ran), so this thread may dispose everything: the listeners first (waiting
        // until NetMQ closed them, so their ports are free), the monitors (they detach from the poller), every socket
        // (linger 0: nothing waits for a peer), then the poller itself (its own signalling sockets).
        // NetMQConfig.Cleanup then has nothing of this transport to wait for.
        if (_router is not null && _routerMonitor is not null)
            _routerMonitor.Unbind(_router, BoundNames(_options.UnicastEndpoint, _router), UnbindTimeout);
        if (_pub is not null && _pubMonitor is not null)
            _pubMonitor.Unbind(_pub, BoundNames(_options.PublishEndpoint, _pub), UnbindTimeout);
        foreach (var monitor in _monitors)
            monitor.Dispose();
        _monitors.Clear();
        _unicast?.Dispose();
        Release(_router);
        Release(_sub);
        Release(_pub);
        NetMQQueue<bool>? wake;
        lock (_wakeGate)
        {
            wake = _wake;
            _wake = null;
        }
        Release(wake);
        if (_idleTimer is not null)
            _poller?.Remove(_idleTimer);
        _poller?.Dispose();
        if (_frame.IsInitialised)
            _frame.Close();
    }

    private void Release<T>(T? socket) where T : class, ISocketPollable, IDisposable
    {
        if (socket is null || socket.IsDisposed)
            return;
        _poller?.Remove(socket);
        socket.Dispose();
    }

    /// <summary>A queued message: one datagram, or a batch frame of <paramref name="Count"/> datagrams.</summary>
    private readonly record struct Outgoing(Msg Message, string? Address, int Count);
}
