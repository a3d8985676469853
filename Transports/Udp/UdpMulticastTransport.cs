using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Multicast.Transport;

namespace Multicast.Transports.Udp;

/// <summary>
/// <see cref="ITransport"/> over IPv4 UDP multicast: one socket joined to the group receives group datagrams, one
/// unicast socket bound to the interface (its address is <see cref="LocalAddress"/>) sends everything and receives
/// datagrams addressed to this member. One named receive thread serves both sockets.
/// </summary>
/// <remarks>
/// <para>Runs on Linux (and macOS); it uses poll(2) and recv(2) from libc so that the receive thread waits on both
/// sockets at once and reads without allocating. On Linux a batch send is one sendmmsg(2) and reads are recvmmsg(2);
/// with <see cref="UdpTransportOptions.Offload"/> a run of equal-sized datagrams leaves as one UDP_SEGMENT buffer and
/// arrives as one UDP_GRO buffer (docs/udp.md).</para>
/// <para>Sends are synchronous: a full socket send buffer makes the caller wait briefly (UDP back-pressure), a
/// failed send is dropped and counted in <see cref="SendErrors"/>. Sends after <see cref="DisposeAsync"/> are dropped.</para>
/// <para>A datagram to <see cref="LocalAddress"/> is handed to the receive thread in the process (a queue and a pipe its
/// poll(2) watches), never through the network stack: a firewall that drops all UDP cannot swallow it.</para>
/// </remarks>
public sealed partial class UdpMulticastTransport : ITransport
{
    /// <summary>The name of the receive thread.</summary>
    public const string ReceiveThreadName = "Multicast UDP receive";

    // Unicast destinations are the members' announced addresses; the cap only guards against a caller that
    // passes ever-new strings.
    private const int MaxCachedAddresses = 4096;

    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    private readonly IPAddress _group;
    private readonly IPAddress _interface;
    private readonly int _port;
    private readonly int _ttl;
    private readonly int _datagramSize;
    private readonly int _requestedReceiveBuffer;
    private readonly int _requestedSendBuffer;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Destination> _addresses = new(StringComparer.Ordinal);
    private readonly bool _batchSends;
    private readonly bool _batchReceives;
    private readonly bool _offload;
    private readonly TaskCompletionSource _receiveStopped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private Socket? _multicastSocket;
    private Socket? _unicastSocket;
    private Destination? _groupDestination;
    private IPEndPoint? _localEndPoint;
    private IDatagramHandler? _handler;
    private Thread? _receiveThread;
    private string _localAddress = "";
    private int _started;
    private int _disposed;
    private volatile bool _stopping;

    private int _segmentation;
    private long _sent;
    private long _sendCalls;
    private long _receiveCalls;
    private long _received;
    private long _sendErrors;
    private long _receiveErrors;
    private long _handlerErrors;

    /// <summary>Creates the transport; nothing is bound until <see cref="StartAsync"/>.</summary>
    /// <param name="options">The settings; validated here.</param>
    /// <param name="logger">Where start, buffer warnings, send failures and handler failures are logged.</param>
    /// <exception cref="OptionsValidationError">A setting is invalid; the exception names its key.</exception>
    public UdpMulticastTransport(UdpTransportOptions options, ILogger<UdpMulticastTransport>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _group = IPAddress.Parse(options.Group);
        _interface = IPAddress.Parse(options.Interface);
        _port = options.Port;
        _ttl = options.Ttl;
        _datagramSize = options.DatagramSize;
        _requestedReceiveBuffer = options.ReceiveBufferBytes;
        _requestedSendBuffer = options.SendBufferBytes;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _offload = options.Offload;
        // sendmmsg(2)/recvmmsg(2) and their structures are Linux's; elsewhere one datagram per system call.
        _batchSends = OperatingSystem.IsLinux();
        _batchReceives = OperatingSystem.IsLinux();
    }

    /// <inheritdoc />
    /// <remarks>"ip:port" of the unicast socket, e.g. <c>127.0.0.1:41234</c>.</remarks>
    public string LocalAddress => _localAddress;

    /// <inheritdoc />
    public int MaxDatagramSize => _datagramSize;

    /// <inheritdoc />
    /// <remarks>When <see cref="UdpTransportOptions.Interface"/> is a loopback address (the default, 127.0.0.1).</remarks>
    public bool IsLoopback => IPAddress.IsLoopback(_interface);

    /// <summary>Datagrams handed to the kernel (group and unicast).</summary>
    public long DatagramsSent => Interlocked.Read(ref _sent);

    /// <summary>Datagrams received on either socket and handed to the handler.</summary>
    public long DatagramsReceived => Interlocked.Read(ref _received);

    /// <summary>System calls that sent datagrams: with batching (Linux) fewer than <see cref="DatagramsSent"/>.</summary>
    public long SendSystemCalls => Interlocked.Read(ref _sendCalls);

    /// <summary>System calls that read datagrams: with batching (Linux) fewer than <see cref="DatagramsReceived"/>.</summary>
    public long ReceiveSystemCalls => Interlocked.Read(ref _receiveCalls);

    /// <summary>Whether batches go out as UDP_SEGMENT buffers (Linux 4.18+ with <see cref="UdpTransportOptions.Offload"/>):
    /// false before start, when the kernel lacks it, or after the path refused a segmented send.</summary>
    public bool SegmentationOffload => Volatile.Read(ref _segmentation) != 0;

    /// <summary>Whether the sockets accept coalesced datagram trains (UDP_GRO, Linux 5.0+ with <see cref="UdpTransportOptions.Offload"/>).</summary>
    public bool ReceiveOffload { get; private set; }

    /// <summary>Sends the kernel refused; each such datagram was dropped.</summary>
    public long SendErrors => Interlocked.Read(ref _sendErrors);

    /// <summary>Failed reads on the receive thread.</summary>
    public long ReceiveErrors => Interlocked.Read(ref _receiveErrors);

    /// <summary>Datagrams whose handler threw.</summary>
    public long HandlerErrors => Interlocked.Read(ref _handlerErrors);

    /// <summary>Whether this node's own group datagrams are dropped in the kernel (Linux) instead of reaching the handler.
    /// Either way is allowed by <see cref="ITransport"/>; the channel ignores its own datagrams.</summary>
    public bool OwnDatagramsFiltered { get; private set; }

    /// <summary>SO_RCVBUF of the multicast socket as the kernel reports it (Linux reports twice the usable size); 0 before start.</summary>
    public int ReceiveBufferBytes { get; private set; }

    /// <summary>SO_SNDBUF of the sending socket as the kernel reports it; 0 before start.</summary>
    public int SendBufferBytes { get; private set; }

    /// <inheritdoc />
    /// <exception cref="PlatformNotSupportedException">Not Linux or macOS.</exception>
    /// <exception cref="InvalidOperationException">Already started, or a socket could not be set up; the message names the setting.</exception>
    public ValueTask StartAsync(IDatagramHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        cancellationToken.ThrowIfCancellationRequested();
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            throw new PlatformNotSupportedException("The UDP multicast transport needs poll(2) from libc (Linux or macOS); use the ZeroMQ transport on this platform.");
        if (Interlocked.Exchange(ref _started, 1) != 0)
            throw new InvalidOperationException("The transport is already started.");

        try
        {
            _multicastSocket = OpenMulticastSocket();
            _unicastSocket = OpenUnicastSocket();
        }
        catch
        {
            _multicastSocket?.Dispose();
            _unicastSocket?.Dispose();
            _multicastSocket = null;
            _unicastSocket = null;
            // Nothing is bound: the caller may fix the cause (a port in use, an interface not up yet) and start again.
            Volatile.Write(ref _started, 0);
            throw;
        }

        try
        {
            OpenWakePipe();
        }
        catch
        {
            _multicastSocket.Dispose();
            _unicastSocket.Dispose();
            Volatile.Write(ref _started, 0);
            throw;
        }
        _localEndPoint = (IPEndPoint)_unicastSocket.LocalEndPoint!;
        _localAddress = _localEndPoint.ToString();
        FilterOwnDatagrams();
        EnableOffload();
        _groupDestination = new Destination(new IPEndPoint(_group, _port));
        _handler = handler;
        UdpTransportLog.Started(_logger, _group.ToString(), _port, _interface.ToString(), _ttl, _localAddress, _datagramSize, ReceiveBufferBytes, SendBufferBytes, OwnDatagramsFiltered, SegmentationOffload, ReceiveOffload);

        _receiveThread = new Thread(ReceiveLoop) { IsBackground = true, Name = ReceiveThreadName };
        _receiveThread.Start();
        return ValueTask.CompletedTask;
    }

    /// <summary>Stops the receive thread (waiting for a running handler call to return) and closes both sockets.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        _stopping = true;
        if (_receiveThread is not null)
        {
            WakeReceiveThread();
            try
            {
                await _receiveStopped.Task.WaitAsync(StopTimeout).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                UdpTransportLog.ReceiveThreadStuck(_logger, (int)StopTimeout.TotalSeconds);
            }
        }
        _multicastSocket?.Dispose();
        _unicastSocket?.Dispose();
        CloseWakePipe();
        if (_receiveThread is not null)
            UdpTransportLog.Stopped(_logger, DatagramsSent, DatagramsReceived, SendErrors);
    }

    private Socket OpenMulticastSocket()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            // Several nodes on one host share the group port.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            // Bound to the group address (not 0.0.0.0) the socket receives only this group's datagrams,
            // not those of other groups that some other socket on the host joined on the same port.
            Bind(socket, new IPEndPoint(_group, _port), $"{UdpTransportOptions.SectionName}:Port");
            try
            {
                socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(_group, _interface));
            }
            catch (SocketException ex)
            {
                throw new InvalidOperationException(
                    $"Cannot join multicast group {_group} on interface {_interface} ({UdpTransportOptions.SectionName}:Group / {UdpTransportOptions.SectionName}:Interface): {ex.Message}. " +
                    "The interface must be a local address; on loopback the host needs a multicast route or the 127.0.0.1 interface.", ex);
            }
            ReceiveBufferBytes = SetBuffer(socket, SocketOptionName.ReceiveBuffer, _requestedReceiveBuffer, "SO_RCVBUF", "net.core.rmem_max");
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private Socket OpenUnicastSocket()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            Bind(socket, new IPEndPoint(_interface, 0), $"{UdpTransportOptions.SectionName}:Interface");
            // Group datagrams leave from this socket, through the configured interface, and loop back to the
            // other nodes on this host.
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, _interface.GetAddressBytes());
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastTimeToLive, _ttl);
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastLoopback, true);
            SetBuffer(socket, SocketOptionName.ReceiveBuffer, _requestedReceiveBuffer, "SO_RCVBUF", "net.core.rmem_max");
            SendBufferBytes = SetBuffer(socket, SocketOptionName.SendBuffer, _requestedSendBuffer, "SO_SNDBUF", "net.core.wmem_max");
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Group datagrams leave from the unicast socket and loop back to every group socket on this host, this node's
    /// too. On Linux a socket filter drops this node's own in the kernel: on a busy sender that saves a wake-up,
    /// a read and the channel's authentication check per datagram it sends.
    /// </summary>
    private void FilterOwnDatagrams()
    {
        if (!OperatingSystem.IsLinux())
            return;
        var errno = Interop.DropDatagramsFrom((int)_multicastSocket!.SafeHandle.DangerousGetHandle(), _localEndPoint!.Address.GetAddressBytes(), _localEndPoint.Port);
        OwnDatagramsFiltered = errno == 0;
        if (errno != 0)
            UdpTransportLog.FilterNotAttached(_logger, errno);
    }

    /// <summary>
    /// UDP segmentation offload (Linux): a batch's run of equal-sized datagrams leaves as one buffer that the kernel cuts
    /// into datagrams after routing, and coalesced trains arrive as one buffer: one pass through the stack per run instead
    /// of per datagram. Each is used only when the kernel has it (getsockopt UDP_SEGMENT, setsockopt UDP_GRO succeed).
    /// </summary>
    private void EnableOffload()
    {
        if (!_offload || !OperatingSystem.IsLinux())
            return;
        Span<byte> value = stackalloc byte[sizeof(int)];
        try
        {
            _unicastSocket!.GetRawSocketOption(Interop.SolUdp, Interop.UdpSegment, value);
            Volatile.Write(ref _segmentation, 1);
        }
        catch (SocketException)
        {
            // Before Linux 4.18: one datagram per message of the batch.
        }
        BitConverter.TryWriteBytes(value, 1);
        try
        {
            _multicastSocket!.SetRawSocketOption(Interop.SolUdp, Interop.UdpGro, value);
            _unicastSocket!.SetRawSocketOption(Interop.SolUdp, Interop.UdpGro, value);
            ReceiveOffload = true;
        }
        catch (SocketException)
        {
            // Before Linux 5.0: the kernel cuts coalesced trains into datagrams before they are queued.
        }
    }

    private static void Bind(Socket socket, IPEndPoint endPoint, string key)
    {
        try
        {
            socket.Bind(endPoint);
        }
        catch (SocketException ex)
        {
            throw new InvalidOperationException($"Cannot bind UDP socket to {endPoint} ({key}): {ex.Message}.", ex);
        }
    }

    private int SetBuffer(Socket socket, SocketOptionName option, int requested, string name, string sysctl)
    {
        if (requested > 0)
            socket.SetSocketOption(SocketOptionLevel.Socket, option, requested);
        var actual = (int)socket.GetSocketOption(SocketOptionLevel.Socket, option)!;
        if (requested > 0 && actual < requested)
            UdpTransportLog.BufferClamped(_logger, name, actual, requested, sysctl);
        return actual;
    }

    private Destination Resolve(string address)
    {
        if (!IPEndPoint.TryParse(address, out var endPoint) || endPoint.AddressFamily != AddressFamily.InterNetwork || endPoint.Port == 0)
            throw new ArgumentException($"'{address}' is not a UDP transport address (\"ip:port\", IPv4).", nameof(address));
        if (_addresses.Count >= MaxCachedAddresses)
            _addresses.Clear();
        return _addresses.GetOrAdd(address, new Destination(endPoint));
    }

    private void WakeReceiveThread() => WritePipe();
}
