using Microsoft.Extensions.Logging;
using NetMQ;
using NetMQ.Sockets;

namespace Multicast.Transports.ZeroMq;

/// <summary>
/// The DEALER sockets that carry unicast datagrams, one per destination (a member's announced ROUTER address):
/// created and connected on first use, closed after <see cref="ZeroMqTransport.UnicastIdleTimeout"/> unused, so that
/// departed members' addresses do not keep reconnecting. One connection per destination keeps its datagrams in order.
/// Used only on the transport's poller thread.
/// </summary>
internal sealed class UnicastSockets(SocketFactory factory, TimeProvider time, ILogger logger) : IDisposable
{
    private readonly Dictionary<string, Destination> _destinations = new(StringComparer.Ordinal);

    public int Count => _destinations.Count;

    /// <summary>The socket to <paramref name="address"/>, or <see langword="null"/> when NetMQ refused the address
    /// (logged once; its datagrams are dropped until the entry goes idle).</summary>
    public DealerSocket? To(string address)
    {
        if (!_destinations.TryGetValue(address, out var destination))
        {
            destination = new Destination(Connect(address));
            _destinations[address] = destination;
        }
        destination.LastUsed = time.GetTimestamp();
        return destination.Socket;
    }

    private DealerSocket? Connect(string address)
    {
        if (!ZeroMqTransportOptions.IsTcpEndpoint(address, bind: false))
        {
            ZeroMqLog.ConnectFailed(logger, address, new ArgumentException($"'{address}' is not a tcp://host:port address", nameof(address)));
            return null;
        }
        var socket = factory.Dealer();
        try
        {
            socket.Connect(address);
            return socket;
        }
        catch (Exception e) when (e is NetMQException or ArgumentException or System.Net.Sockets.SocketException)
        {
            socket.Dispose();
            ZeroMqLog.ConnectFailed(logger, address, e);
            return null;
        }
    }

    /// <summary>Closes the sockets not used for <paramref name="idle"/>.</summary>
    public void CloseIdle(TimeSpan idle)
    {
        var now = time.GetTimestamp();
        List<string>? closed = null;
        foreach (var (address, destination) in _destinations)
        {
            if (time.GetElapsedTime(destination.LastUsed, now) < idle)
                continue;
            destination.Socket?.Dispose();
            (closed ??= []).Add(address);
            ZeroMqLog.UnicastIdleClosed(logger, address);
        }
        foreach (var address in closed ?? [])
            _destinations.Remove(address);
    }

    public void Dispose()
    {
        foreach (var destination in _destinations.Values)
            destination.Socket?.Dispose();
        _destinations.Clear();
    }

    private sealed class Destination(DealerSocket? socket)
    {
        public DealerSocket? Socket { get; } = socket;

        public long LastUsed { get; set; }
    }
}
