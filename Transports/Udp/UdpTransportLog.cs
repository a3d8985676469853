using Microsoft.Extensions.Logging;

namespace Multicast.Transports.Udp;

/// <summary>The transport's log messages (source-generated).</summary>
internal static partial class UdpTransportLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information,
        Message = "UDP multicast transport started: group {Group}:{Port} on {Interface}, TTL {Ttl}, unicast {LocalAddress}, datagrams up to {DatagramSize} bytes, SO_RCVBUF {ReceiveBuffer}, SO_SNDBUF {SendBuffer}, own datagrams filtered in the kernel: {OwnFiltered}, segmentation offload: {Segmentation}, receive offload: {ReceiveOffload}")]
    public static partial void Started(ILogger logger, string group, int port, string @interface, int ttl, string localAddress, int datagramSize, int receiveBuffer, int sendBuffer, bool ownFiltered, bool segmentation, bool receiveOffload);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
        Message = "The kernel clamped {Option} to {Actual} bytes (asked for {Requested}); datagrams may be dropped under load. Raise it with: sysctl -w {Sysctl}={Requested}")]
    public static partial void BufferClamped(ILogger logger, string option, int actual, int requested, string sysctl);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning,
        Message = "UDP send to {Destination} failed ({Error}); {Count} send errors so far, the datagram is dropped")]
    public static partial void SendFailed(ILogger logger, string destination, string error, long count);

    [LoggerMessage(EventId = 4, Level = LogLevel.Error,
        Message = "The datagram handler threw; the datagram is dropped and the receive thread goes on")]
    public static partial void HandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning,
        Message = "UDP receive failed with errno {Errno}; {Count} receive errors so far")]
    public static partial void ReceiveFailed(ILogger logger, int errno, long count);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information,
        Message = "UDP multicast transport stopped: {Sent} datagrams sent, {Received} received, {SendErrors} send errors")]
    public static partial void Stopped(ILogger logger, long sent, long received, long sendErrors);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning,
        Message = "The UDP receive thread did not stop within {Seconds} s (a handler is blocking); closing the sockets anyway")]
    public static partial void ReceiveThreadStuck(ILogger logger, int seconds);

    [LoggerMessage(EventId = 8, Level = LogLevel.Critical,
        Message = "The UDP receive thread failed unexpectedly; this node receives nothing more")]
    public static partial void ReceiveThreadFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 9, Level = LogLevel.Debug,
        Message = "The kernel refused the socket filter for this node's own group datagrams (errno {Errno}); they arrive and the channel ignores them")]
    public static partial void FilterNotAttached(ILogger logger, int errno);

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning,
        Message = "A segmented UDP send was refused (errno {Errno}: the path cannot segment, e.g. no checksum offload or IPsec); batches now go out one datagram per message")]
    public static partial void SegmentationRefused(ILogger logger, int errno);
}
