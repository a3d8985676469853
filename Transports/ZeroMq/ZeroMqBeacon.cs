using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Multicast.Transports.ZeroMq;

/// <summary>
/// Optional peer discovery: announces this node's PUB endpoint on a UDP multicast group every
/// <see cref="ZeroMqTransportOptions.BeaconInterval"/> and reports every other endpoint it hears once.
/// A beacon datagram is the ASCII magic <c>MCZB</c>, a version byte (1) and the endpoint in UTF-8.
/// </summary>
internal sealed class ZeroMqBeacon : IAsyncDisposable
{
    private static ReadOnlySpan<byte> Magic => "MCZB"u8;
    private const byte Version = 1;

    private readonly ZeroMqTransportOptions _options;
    private readonly string _ownEndpoint;
    private readonly Action<string> _onPeer;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly HashSet<string> _known = new(StringComparer.OrdinalIgnoreCase);
    private Socket? _socket;
    private Task _receiving = Task.CompletedTask;
    private Task _sending = Task.CompletedTask;

    public ZeroMqBeacon(ZeroMqTransportOptions options, string ownEndpoint, Action<string> onPeer, ILogger logger)
    {
        _options = options;
        _ownEndpoint = ownEndpoint;
        _onPeer = onPeer;
        _logger = logger;
    }

    public void Start()
    {
        var group = IPAddress.Parse(_options.BeaconGroup);
        var nic = IPAddress.Parse(_options.BeaconInterface);
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            // Several nodes on one host share the beacon port; bound to the group address (Linux), the socket gets
            // only that group's datagrams, not every group's on the same port.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(group, _options.BeaconPort));
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(group, nic));
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, nic.GetAddressBytes());
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastLoopback, true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _socket = socket;
        _receiving = Task.Run(() => ReceiveAsync(socket, _stop.Token));
        _sending = Task.Run(() => AnnounceAsync(socket, new IPEndPoint(group, _options.BeaconPort), _stop.Token));
    }

    private async Task AnnounceAsync(Socket socket, IPEndPoint target, CancellationToken cancellationToken)
    {
        var datagram = new byte[Magic.Length + 1 + Encoding.UTF8.GetByteCount(_ownEndpoint)];
        Magic.CopyTo(datagram);
        datagram[Magic.Length] = Version;
        Encoding.UTF8.GetBytes(_ownEndpoint, datagram.AsSpan(Magic.Length + 1));
        using var timer = new PeriodicTimer(_options.BeaconInterval);
        try
        {
            do
            {
                try
                {
                    await socket.SendToAsync(datagram, SocketFlags.None, target, cancellationToken).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    ZeroMqLog.BeaconFailed(_logger, e);
                }
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task ReceiveAsync(Socket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[1024];
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var received = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (TryParse(buffer.AsSpan(0, received), out var endpoint)
                    && !string.Equals(endpoint, _ownEndpoint, StringComparison.OrdinalIgnoreCase)
                    && _known.Add(endpoint))
                {
                    ZeroMqLog.BeaconDiscovered(_logger, endpoint);
                    _onPeer(endpoint);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                ZeroMqLog.BeaconFailed(_logger, e);
            }
        }
    }

    internal static bool TryParse(ReadOnlySpan<byte> datagram, out string endpoint)
    {
        endpoint = string.Empty;
        if (datagram.Length <= Magic.Length + 1 || !datagram.StartsWith(Magic) || datagram[Magic.Length] != Version)
            return false;
        try
        {
            endpoint = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(datagram[(Magic.Length + 1)..]);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
        return endpoint.StartsWith("tcp://", StringComparison.OrdinalIgnoreCase) || endpoint.StartsWith("ipc://", StringComparison.OrdinalIgnoreCase);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket?.Dispose();
        await Task.WhenAll(_receiving, _sending).ConfigureAwait(false);
        _stop.Dispose();
    }
}
