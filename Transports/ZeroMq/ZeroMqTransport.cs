using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Win32.SafeHandles;
using Multicast.Transport;

namespace Multicast.Transports.ZeroMq;

/// <summary>
/// ZeroMQ pub/sub as an <see cref="ITransport"/>, over Debian's libzmq 4.3 (<c>libzmq5</c>); ZMTP on the wire.
/// </summary>
/// <remarks>
/// <para>Group datagrams: this node's PUB socket binds <see cref="ZeroMqTransportOptions.PublishEndpoint"/>; its SUB
/// socket connects to every peer's PUB (<see cref="ZeroMqTransportOptions.Peers"/>, <see cref="AddPeer"/>, or the
/// beacon) and subscribes to everything. With <see cref="ZeroMqTransportOptions.GroupEndpoint"/> both connect to a
/// <c>norm://</c> or <c>epgm://</c> multicast group instead. Unicast: a PULL socket binds
/// <see cref="ZeroMqTransportOptions.UnicastEndpoint"/> (<see cref="LocalAddress"/>); <see cref="SendTo"/> sends through
/// a PUSH socket per destination, connected on first use and closed after <see cref="UnicastIdleTimeout"/> unused.</para>
/// <para>Every datagram is one single-frame ZeroMQ message: no topic frame, no envelope.</para>
/// <para>Threads: one background thread named "Multicast ZeroMQ" owns every libzmq socket. It polls the SUB and PULL
/// sockets and an eventfd; other threads queue datagrams (copied into pooled buffers) and signal the eventfd. Received
/// datagrams are handed to <see cref="IDatagramHandler.OnDatagram"/> on that thread, straight from libzmq's buffer.</para>
/// <para>Like every transport it may lose datagrams: PUB/SUB drops before a subscription reaches the publisher and past
/// a high-water mark. The reliable group channel repairs that.</para>
/// </remarks>
public sealed partial class ZeroMqTransport : ITransport
{
    /// <summary>The name of the thread that owns the libzmq sockets.</summary>
    public const string ThreadName = "Multicast ZeroMQ";

    /// <summary>How long a PUSH socket to one destination stays open without being used.</summary>
    public static readonly TimeSpan UnicastIdleTimeout = TimeSpan.FromMinutes(2);

    // Datagrams waiting for the owning thread; beyond this many the newest are dropped (and counted).
    private const int SendQueueCapacity = 16_384;

    private readonly ZeroMqTransportOptions _options;
    private readonly ILogger _logger;
    private readonly Channel<Outgoing> _sendQueue;
    private readonly ConcurrentQueue<string> _peersToConnect = new();
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ZeroMqBeacon? _beacon;
    private IDatagramHandler? _handler;
    private SafeFileHandle? _wakeFd;
    private int _wakePending;
    private int _startCalled;
    private int _disposed;
    private volatile bool _stopping;
    private volatile bool _running;
    private string _localAddress = string.Empty;
    private string _publishAddress = string.Empty;

    /// <summary>Creates the transport; nothing is bound before <see cref="StartAsync"/>.</summary>
    /// <param name="options">The options; validated at <see cref="StartAsync"/>.</param>
    /// <param name="logger">Where the transport logs; none when <see langword="null"/>.</param>
    public ZeroMqTransport(ZeroMqTransportOptions options, ILogger<ZeroMqTransport>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _logger = logger ?? (ILogger)NullLogger.Instance;
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

    /// <summary>The bound PULL endpoint (e.g. <c>tcp://127.0.0.1:40123</c>), with <see cref="ZeroMqTransportOptions.AdvertisedHost"/>
    /// applied; empty before <see cref="StartAsync"/>.</summary>
    public string LocalAddress => _localAddress;

    /// <summary>The endpoint peers' SUB sockets connect to: the bound PUB endpoint (or the multicast group endpoint);
    /// empty before <see cref="StartAsync"/>. Give it to the other nodes as one of their <see cref="ZeroMqTransportOptions.Peers"/>.</summary>
    public string PublishAddress => _publishAddress;

    /// <inheritdoc />
    public int MaxDatagramSize => _options.MaxDatagramSize;

    /// <inheritdoc />
    /// <remarks>When every endpoint it binds or connects to is on this machine (tcp on a loopback address or localhost,
    /// ipc, inproc) and the beacon, if enabled, runs on a loopback interface.</remarks>
    public bool IsLoopback => _options.StaysOnHost();

    internal ZeroMqCounters Counters { get; } = new();

    /// <inheritdoc />
    /// <exception cref="OptionsValidationError">An option is invalid.</exception>
    /// <exception cref="ZeroMqException">libzmq is not installed, or an endpoint could not be bound or connected.</exception>
    /// <exception cref="InvalidOperationException">The beacon could not join its multicast group.</exception>
    public async ValueTask StartAsync(IDatagramHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _options.Validate();
        Interop.EnsureInstalled();
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Interlocked.Exchange(ref _startCalled, 1) != 0)
            throw new InvalidOperationException("The transport was already started.");

        _handler = handler;
        var thread = new Thread(Run) { Name = ThreadName, IsBackground = true };
        thread.Start();
        await _started.Task.WaitAsync(cancellationToken).ConfigureAwait(false);

        if (_options.BeaconEnabled && _options.GroupEndpoint is null)
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

    /// <summary>Connects the SUB socket to one more peer's PUB endpoint (its <see cref="PublishAddress"/>); idempotent,
    /// thread-safe. Peers joining after start, and the beacon, come in this way.</summary>
    public void AddPeer(string publishEndpoint)
    {
        ArgumentException.ThrowIfNullOrEmpty(publishEndpoint);
        _peersToConnect.Enqueue(publishEndpoint);
        Wake();
    }

    /// <summary>Stops once: the owning thread closes every socket (ZMQ_LINGER 0, unsent datagrams are dropped) and
    /// terminates the context. Completes when it has.</summary>
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
        // Signal directly, not through the wake flag: stopping must never depend on another wakeup.
        if (Volatile.Read(ref _wakeFd) is { } fd)
            Interop.SignalEventFd(fd);
        await _stopped.Task.ConfigureAwait(false);
    }

    private void Enqueue(string? address, ReadOnlySpan<byte> datagram)
    {
        if (datagram.Length > _options.MaxDatagramSize)
            throw new ArgumentException($"The datagram has {datagram.Length} bytes; the largest is {_options.MaxDatagramSize} (Cluster:ZeroMq:MaxDatagramSize).", nameof(datagram));
        if (!_running)
        {
            Counters.OnDropped();
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(datagram.Length, 1));
        datagram.CopyTo(buffer);
        if (!_sendQueue.Writer.TryWrite(new Outgoing(buffer, datagram.Length, address)))
        {
            // Completed: the transport stopped meanwhile.
            Drop(new Outgoing(buffer, datagram.Length, address));
            return;
        }
        Wake();
    }

    private void Drop(Outgoing item)
    {
        ArrayPool<byte>.Shared.Return(item.Buffer);
        Counters.OnDropped();
    }

    // One eventfd write per batch: only the enqueuer that flips the flag signals; the owning thread resets the eventfd,
    // then clears the flag, then drains, so anything queued after that signals again.
    private void Wake()
    {
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            var fd = Volatile.Read(ref _wakeFd);
            if (fd is not null)
                Interop.SignalEventFd(fd);
        }
    }

    private readonly record struct Outgoing(byte[] Buffer, int Length, string? Address);
}
