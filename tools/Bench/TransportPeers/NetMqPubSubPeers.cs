using NetMQ;
using NetMQ.Sockets;

namespace Multicast.Bench.TransportPeers;

/// <summary>
/// Raw NetMQ PUB/SUB over loopback TCP, no transport and no channel: one PUB bound to a free port, N SUBs connected to
/// it, each read by its own thread. The ceiling of the NetMQ transport's group path. NetMQ runs every socket of the
/// process on its I/O threads (<see cref="NetMQConfig.ThreadPoolSize"/>, 1 by default), so, unlike the libzmq peers,
/// sender and receivers share one.
/// </summary>
internal sealed class NetMqPubSubPeers : PeerGroup
{
    private const int HighWaterMark = 100_000;
    private const int LowWaterMark = 1024;

    private readonly PublisherSocket _pub;
    private readonly List<SubscriberSocket> _subs = [];
    private readonly List<Thread> _threads = [];
    private volatile bool _stop;

    public NetMqPubSubPeers(int receivers, int maxMessage) : base(receivers)
    {
        _pub = new PublisherSocket();
        _pub.Options.Linger = TimeSpan.Zero;
        _pub.Options.SendHighWatermark = HighWaterMark;
        // As the transport does (SocketFactory): flow-control reports every 1,024 messages, not every HWM - 1,024.
        _pub.Options.SendLowWatermark = LowWaterMark;
        _pub.Bind("tcp://127.0.0.1:*");
        var endpoint = _pub.Options.LastEndpoint!;
        for (var i = 0; i < receivers; i++)
        {
            var sub = new SubscriberSocket();
            sub.Options.Linger = TimeSpan.Zero;
            sub.Options.ReceiveHighWatermark = HighWaterMark;
            sub.Options.ReceiveLowWatermark = LowWaterMark;
            sub.Options.MaxMsgSize = maxMessage + 1024;
            sub.SubscribeToAnyTopic();
            sub.Connect(endpoint);
            _subs.Add(sub);
            var index = i;
            var thread = new Thread(() => Receive(sub, index)) { IsBackground = true, Name = $"netmq receive {i}" };
            _threads.Add(thread);
            thread.Start();
        }
    }

    public override string Name => "netmq_pubsub";

    public override bool Lossy => true;

    public override ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var msg = new Msg();
        msg.InitPool(message.Length);
        message.Span.CopyTo(msg.Slice());
        _pub.TrySend(ref msg, TimeSpan.Zero, false);
        msg.Close();
        return ValueTask.CompletedTask;
    }

    private void Receive(SubscriberSocket sub, int index)
    {
        var msg = new Msg();
        msg.InitEmpty();
        try
        {
            while (!_stop)
            {
                if (sub.TryReceive(ref msg, TimeSpan.FromMilliseconds(100)))
                    Deliver(index, msg.Slice());
            }
        }
        finally
        {
            msg.Close();
        }
    }

    public override ValueTask DisposeAsync()
    {
        _stop = true;
        foreach (var thread in _threads)
            thread.Join();
        foreach (var sub in _subs)
            sub.Dispose();
        _pub.Dispose();
        return ValueTask.CompletedTask;
    }
}
