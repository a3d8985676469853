using NetMQ;
using NetMQ.Sockets;

namespace Multicast.Transports.ZeroMq;

/// <summary>Creates the transport's NetMQ sockets with the options applied: linger 0 on every socket (closing
/// discards what is unsent, so stopping never waits for a peer), the high-water marks, the largest message, the
/// reconnect back-off and, with CURVE, the keys (bound sockets serve, connecting sockets are clients).</summary>
internal sealed class SocketFactory(ZeroMqTransportOptions options, CurveKeys? curve)
{
    public bool Curve => curve is not null;

    /// <summary>The group's sender: bound, a CURVE server.</summary>
    public PublisherSocket Publisher()
    {
        var socket = new PublisherSocket();
        Common(socket);
        socket.Options.SendHighWatermark = options.SendHighWaterMark;
        curve?.Serve(socket);
        return socket;
    }

    /// <summary>The group's receiver: connects to every peer's PUB, subscribed to everything, a CURVE client.</summary>
    public SubscriberSocket Subscriber()
    {
        var socket = new SubscriberSocket();
        Common(socket);
        Receiving(socket);
        Connecting(socket);
        socket.SubscribeToAnyTopic();
        return socket;
    }

    /// <summary>The unicast receiver: bound at this node's address, a CURVE server. Each message is the sending
    /// connection's routing id and the datagram.</summary>
    public RouterSocket Router()
    {
        var socket = new RouterSocket();
        Common(socket);
        Receiving(socket);
        curve?.Serve(socket);
        return socket;
    }

    /// <summary>A unicast sender to one member's ROUTER, a CURVE client. It queues (up to its high-water mark) until
    /// the connection is up, so the first datagrams to a new member are not lost to the handshake.</summary>
    public DealerSocket Dealer()
    {
        var socket = new DealerSocket();
        Common(socket);
        socket.Options.SendHighWatermark = options.SendHighWaterMark;
        Connecting(socket);
        return socket;
    }

    private void Common(NetMQSocket socket)
    {
        socket.Options.Linger = TimeSpan.Zero;
        // A pipe's reader tells its writer how far it has read every low-water-mark messages, and the writer counts
        // as queued what it has not heard of yet. NetMQ's default low-water mark is HWM - 1024, so a writer whose
        // reader is idle may believe the queue nearly full: a PUB then drops a burst of little more than 1,024
        // messages whatever the high-water mark. Reported every 1,024 messages (or half the mark, if smaller), a
        // queue holds at least HWM - 1,024 before it drops.
        socket.Options.SendLowWatermark = LowWaterMark(options.SendHighWaterMark);
        socket.Options.ReceiveLowWatermark = LowWaterMark(options.ReceiveHighWaterMark);
    }

    internal static int LowWaterMark(int highWaterMark) => Math.Max(1, Math.Min(highWaterMark / 2, 1024));

    /// <summary>What a frame on the wire may carry beyond the datagram: CURVE's MESSAGE command wraps it in its
    /// name, a nonce, a flags byte and a MAC (33 bytes).</summary>
    public const int FramingAllowance = 64;

    /// <summary>The largest frame a receiving socket accepts, for datagrams of at most <paramref name="maxDatagramSize"/>.</summary>
    internal static long MaxFrame(int maxDatagramSize) => DatagramBatch.FrameLimit(maxDatagramSize) + FramingAllowance;

    private void Receiving(NetMQSocket socket)
    {
        socket.Options.ReceiveHighWatermark = options.ReceiveHighWaterMark;
        // NetMQ checks the frame as it is on the wire: with CURVE, that is the encrypted command around the datagram
        // or the batch frame (DatagramBatch), the largest frame a node sends. The transport drops (and counts) a
        // single-frame datagram over MaxDatagramSize itself.
        socket.Options.MaxMsgSize = MaxFrame(options.MaxDatagramSize);
    }

    private void Connecting(NetMQSocket socket)
    {
        socket.Options.ReconnectInterval = options.ReconnectInterval;
        socket.Options.ReconnectIntervalMax = options.ReconnectIntervalMax;
        curve?.Connect(socket);
    }
}
