using Microsoft.Extensions.Logging;

namespace Multicast.Transports.ZeroMq;

internal static partial class ZeroMqLog
{
    [LoggerMessage(1, LogLevel.Information, "ZeroMQ transport started (NetMQ {Version}, {Security}): group {GroupAddress}, unicast {LocalAddress}, {PeerCount} peer(s)")]
    public static partial void Started(ILogger logger, string version, string security, string groupAddress, string localAddress, int peerCount);

    [LoggerMessage(2, LogLevel.Debug, "ZeroMQ SUB connected to peer {Endpoint}")]
    public static partial void PeerConnected(ILogger logger, string endpoint);

    [LoggerMessage(3, LogLevel.Warning, "ZeroMQ could not connect to {Endpoint}; datagrams for it are dropped")]
    public static partial void ConnectFailed(ILogger logger, string endpoint, Exception exception);

    [LoggerMessage(4, LogLevel.Warning, "ZeroMQ send failed; the datagram is dropped")]
    public static partial void SendFailed(ILogger logger, Exception exception);

    [LoggerMessage(5, LogLevel.Error, "The datagram handler threw on the ZeroMQ thread; the datagram is dropped")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(6, LogLevel.Critical, "The ZeroMQ poller failed; the transport no longer sends or receives")]
    public static partial void LoopFailed(ILogger logger, Exception exception);

    [LoggerMessage(7, LogLevel.Warning, "ZeroMQ endpoint {Endpoint} is bound to every interface and announced as such; set Cluster:ZeroMq:AdvertisedHost to the address peers reach this node at")]
    public static partial void WildcardAnnounced(ILogger logger, string endpoint);

    [LoggerMessage(8, LogLevel.Information, "ZeroMQ beacon discovered peer {Endpoint}")]
    public static partial void BeaconDiscovered(ILogger logger, string endpoint);

    [LoggerMessage(9, LogLevel.Warning, "ZeroMQ beacon failed")]
    public static partial void BeaconFailed(ILogger logger, Exception exception);

    [LoggerMessage(10, LogLevel.Debug, "ZeroMQ closed the idle unicast connection to {Endpoint}")]
    public static partial void UnicastIdleClosed(ILogger logger, string endpoint);

    [LoggerMessage(11, LogLevel.Warning, "ZeroMQ {Socket} ({Endpoint}) closed a connection during its handshake ({Refused} so far): a peer with another CURVE key or none, or not ZeroMQ; nothing of it is delivered")]
    public static partial void ConnectionRefused(ILogger logger, string socket, string endpoint, long refused);
}
