using Multicast.Bench.ZeroMq.Libzmq;

namespace Multicast.Bench.TransportPeers;

/// <summary>
/// libzmq (Debian's libzmq5, through the benchmark's own binding) PUB/SUB, used directly: one PUB and N SUB sockets,
/// each in its own context (its own I/O thread, like separate nodes). <c>tcp</c>: the PUB binds a loopback port, the
/// SUBs connect to it (the reference implementation of what the NetMQ transport does). <c>epgm</c> (OpenPGM over UDP)
/// and <c>norm</c> (NORM): libzmq's own reliable multicast, every socket connected to one group endpoint, ZMQ_RATE
/// raised; NORM sockets get distinct node ids (libzmq would give every socket on one host the same).
/// </summary>
internal sealed class LibzmqPeers : PeerGroup
{
    private const int ZMQ_RCVTIMEO = 27;
    private const int HighWaterMark = 100_000;

    private readonly List<ZmqContextHandle> _contexts = [];
    private readonly List<ZmqSocketHandle> _subs = [];
    private readonly List<Thread> _threads = [];
    private readonly ZmqSocketHandle _pub;
    private readonly string _name;
    private volatile bool _stop;
    private long _dropped;

    public LibzmqPeers(string scheme, int receivers, int rateKbps, int maxMessage) : base(receivers)
    {
        _name = scheme == "tcp" ? "libzmq_pubsub" : scheme;
        var multicast = scheme != "tcp";
        var group = Transport.BenchNetwork.RandomGroup();
        var port = Transport.BenchNetwork.FreeUdpPort();
        string Endpoint() => scheme == "norm"
            ? $"norm://{Random.Shared.Next(1, int.MaxValue)},127.0.0.1;{group}:{port}"
            : $"{scheme}://127.0.0.1;{group}:{port}";

        var context = Interop.CreateContext();
        _contexts.Add(context);
        _pub = Interop.CreateSocket(context, Interop.ZMQ_PUB);
        Interop.SetOption(_pub, Interop.ZMQ_LINGER, 0);
        Interop.SetOption(_pub, Interop.ZMQ_SNDHWM, HighWaterMark);
        string publishTo;
        if (multicast)
        {
            Interop.SetOption(_pub, Interop.ZMQ_RATE, rateKbps);
            Interop.SetOption(_pub, Interop.ZMQ_SNDBUF, 8 * 1024 * 1024);
            Interop.Connect(_pub, Endpoint());
            publishTo = string.Empty;
        }
        else
        {
            Interop.Bind(_pub, "tcp://127.0.0.1:*");
            publishTo = Interop.GetStringOption(_pub, Interop.ZMQ_LAST_ENDPOINT);
        }
        for (var i = 0; i < receivers; i++)
        {
            var ctx = Interop.CreateContext();
            _contexts.Add(ctx);
            var sub = Interop.CreateSocket(ctx, Interop.ZMQ_SUB);
            Interop.SetOption(sub, Interop.ZMQ_LINGER, 0);
            Interop.SetOption(sub, Interop.ZMQ_RCVHWM, HighWaterMark);
            Interop.SetOption(sub, Interop.ZMQ_MAXMSGSIZE, (long)maxMessage + 1024);
            Interop.SetOption(sub, ZMQ_RCVTIMEO, 100);
            Interop.SetOption(sub, Interop.ZMQ_SUBSCRIBE, ReadOnlySpan<byte>.Empty);
            if (multicast)
            {
                Interop.SetOption(sub, Interop.ZMQ_RATE, rateKbps);
                Interop.SetOption(sub, Interop.ZMQ_RCVBUF, 8 * 1024 * 1024);
                Interop.Connect(sub, Endpoint());
            }
            else
            {
                Interop.Connect(sub, publishTo);
            }
            _subs.Add(sub);
            var index = i;
            var thread = new Thread(() => Receive(sub, index)) { IsBackground = true, Name = $"{scheme} receive {i}" };
            _threads.Add(thread);
            thread.Start();
        }
    }

    public override string Name => _name;

    /// <summary>No back-pressure: past its high-water mark the PUB drops.</summary>
    public override bool Lossy => true;

    /// <summary>Messages the PUB refused at its high-water mark (PUB drops rather than blocks).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>The loaded libzmq's version, e.g. 4.3.4; throws <see cref="LibzmqException"/> when it is not installed.</summary>
    public static Version LibraryVersion() => Interop.LibraryVersion();

    public override ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        if (!Interop.Send(_pub, message.Span, Interop.ZMQ_DONTWAIT))
            Interlocked.Increment(ref _dropped);
        return ValueTask.CompletedTask;
    }

    private void Receive(ZmqSocketHandle sub, int index)
    {
        var message = default(ZmqMessage);
        Interop.InitMessage(ref message);
        try
        {
            while (!_stop)
            {
                if (Interop.Receive(ref message, sub, 0))
                    Deliver(index, Interop.MessageData(ref message));
            }
        }
        catch (LibzmqException) when (_stop)
        {
        }
        finally
        {
            Interop.CloseMessage(ref message);
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
        foreach (var context in _contexts)
            context.Dispose();
        return ValueTask.CompletedTask;
    }
}
