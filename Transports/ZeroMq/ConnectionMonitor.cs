using AsyncIO;
using Microsoft.Extensions.Logging;
using NetMQ;
using NetMQ.Monitoring;
using NetMQ.Sockets;

namespace Multicast.Transports.ZeroMq;

/// <summary>
/// Watches one socket's connections (NetMQ's socket monitor, on the transport's poller): counts the ones NetMQ
/// closed during the handshake as <see cref="ZeroMqCounters.Refused"/>, and at shutdown waits for the socket's
/// listener to close, so that the port is free when the transport's dispose completes.
/// </summary>
/// <remarks>NetMQ has no handshake-failed event (libzmq's <c>ZMQ_EVENT_HANDSHAKE_FAILED_*</c>) and no ZAP handler: a
/// connection whose CURVE keys do not match, whose peer does not speak CURVE (or ZMTP at all) is closed by NetMQ right
/// after it opened, with a plain "disconnected" event. So a connection that ends within <see cref="HandshakeWindow"/>
/// of opening is counted as refused; a handshake takes a few round trips, a working connection lives for as long as
/// its peer does.</remarks>
internal sealed class ConnectionMonitor : IDisposable
{
    /// <summary>A connection closed this soon after it opened is counted as refused.</summary>
    public static readonly TimeSpan HandshakeWindow = TimeSpan.FromMilliseconds(250);

    private static readonly TimeSpan WarningInterval = TimeSpan.FromSeconds(10);

    private readonly PairSocket _events;
    private readonly NetMQMonitor _monitor;
    private readonly string _socketName;
    private readonly ZeroMqCounters _counters;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<AsyncSocket, long> _opened = new(ReferenceEqualityComparer.Instance);
    private long _lastWarning = long.MinValue;
    private bool _listenerClosed;

    public ConnectionMonitor(NetMQSocket socket, string socketName, NetMQPoller poller, ZeroMqCounters counters, TimeProvider time, ILogger logger)
    {
        _socketName = socketName;
        _counters = counters;
        _time = time;
        _logger = logger;
        var endpoint = $"inproc://multicast-monitor-{Guid.NewGuid():N}";
        socket.Monitor(endpoint, SocketEvents.Accepted | SocketEvents.Connected | SocketEvents.Disconnected | SocketEvents.Closed);
        _events = new PairSocket();
        _events.Options.Linger = TimeSpan.Zero;
        _monitor = new NetMQMonitor(_events, endpoint, ownsSocket: true);
        _monitor.Accepted += OnOpened;
        _monitor.Connected += OnOpened;
        _monitor.Disconnected += OnDisconnected;
        _monitor.Closed += OnClosed;
        _monitor.AttachToPoller(poller);
    }

    private void OnOpened(object? sender, NetMQMonitorSocketEventArgs e)
    {
        if (e.Socket is { } socket)
            _opened[socket] = _time.GetTimestamp();
    }

    private void OnDisconnected(object? sender, NetMQMonitorSocketEventArgs e)
    {
        if (e.Socket is not { } socket || !_opened.Remove(socket, out var opened))
            return;
        var now = _time.GetTimestamp();
        if (_time.GetElapsedTime(opened, now) >= HandshakeWindow)
            return;
        _counters.OnRefused();
        if (_lastWarning == long.MinValue || _time.GetElapsedTime(_lastWarning, now) >= WarningInterval)
        {
            _lastWarning = now;
            ZeroMqLog.ConnectionRefused(_logger, _socketName, e.Address, _counters.Refused);
        }
    }

    private void OnClosed(object? sender, NetMQMonitorSocketEventArgs e) => _listenerClosed = true;

    /// <summary>Unbinds <paramref name="socket"/> from every name NetMQ may know its endpoint by and waits, at most
    /// <paramref name="timeout"/>, until its listener closed (NetMQ closes it on its I/O thread, later). After the
    /// poller stopped; the socket is the one this monitor watches.</summary>
    public void Unbind(NetMQSocket socket, IEnumerable<string> names, TimeSpan timeout)
    {
        var unbound = false;
        foreach (var name in names)
        {
            try
            {
                socket.Unbind(name);
                unbound = true;
                break;
            }
            catch (EndpointNotFoundException)
            {
            }
        }
        if (!unbound)
            return;
        var start = _time.GetTimestamp();
        while (!_listenerClosed && _time.GetElapsedTime(start) < timeout)
            _events.Poll(TimeSpan.FromMilliseconds(10));
    }

    /// <summary>Detaches from the poller and closes the monitor's socket; on the poller's thread, or after it stopped.</summary>
    public void Dispose()
    {
        _monitor.Accepted -= OnOpened;
        _monitor.Connected -= OnOpened;
        _monitor.Disconnected -= OnDisconnected;
        _monitor.Closed -= OnClosed;
        _monitor.Dispose();
        _opened.Clear();
    }
}
