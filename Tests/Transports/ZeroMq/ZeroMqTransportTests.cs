using Multicast.Transports.ZeroMq;
using static Multicast.Tests.Transports.ZeroMq.ZeroMqTestHelpers;

namespace Multicast.Tests.Transports.ZeroMq;

[Category("Integration")]
public sealed class ZeroMqTransportTests
{
    private readonly List<ZeroMqTransport> _transports = [];

    [TearDown]
    public async Task DisposeTransports()
    {
        foreach (var t in _transports)
            await t.DisposeAsync();
        _transports.Clear();
    }

    private async Task<(ZeroMqTransport Transport, RecordingHandler Handler)[]> Mesh(int count, Action<ZeroMqTransportOptions>? configure = null)
    {
        var nodes = await StartMesh(count, configure);
        _transports.AddRange(nodes.Select(n => n.Transport));
        return nodes;
    }

    [Test]
    public async Task StartAsync_WildcardPorts_AnnouncesTheBoundEndpoints()
    {
        var sut = new ZeroMqTransport(LoopbackOptions());
        _transports.Add(sut);

        await sut.StartAsync(new RecordingHandler());

        Assert.That(sut.LocalAddress, Does.Match(@"^tcp://127\.0\.0\.1:[1-9][0-9]*$"));
        Assert.That(sut.PublishAddress, Does.Match(@"^tcp://127\.0\.0\.1:[1-9][0-9]*$"));
        Assert.That(sut.PublishAddress, Is.Not.EqualTo(sut.LocalAddress));
    }

    [Test]
    public async Task StartAsync_WildcardHostWithAdvertisedHost_AnnouncesTheAdvertisedHost()
    {
        var options = new ZeroMqTransportOptions { PublishEndpoint = "tcp://*:*", UnicastEndpoint = "tcp://0.0.0.0:*", AdvertisedHost = "node-a.example" };
        var sut = new ZeroMqTransport(options);
        _transports.Add(sut);

        await sut.StartAsync(new RecordingHandler());

        Assert.That(sut.LocalAddress, Does.Match(@"^tcp://node-a\.example:[1-9][0-9]*$"));
        Assert.That(sut.PublishAddress, Does.Match(@"^tcp://node-a\.example:[1-9][0-9]*$"));
    }

    [Test]
    public async Task StartAsync_EndpointInUse_ThrowsZeroMqExceptionAndDisposes()
    {
        var first = new ZeroMqTransport(LoopbackOptions());
        _transports.Add(first);
        await first.StartAsync(new RecordingHandler());
        var options = LoopbackOptions();
        options.UnicastEndpoint = first.LocalAddress;
        var sut = new ZeroMqTransport(options);

        var e = Assert.ThrowsAsync<ZeroMqException>(async () => await sut.StartAsync(new RecordingHandler()));
        await sut.DisposeAsync();

        Assert.That(e!.Message, Does.Contain(first.LocalAddress).And.Contain("in use"));
    }

    [Test]
    public void StartAsync_InvalidOptions_ThrowsNamingTheKey()
    {
        var options = LoopbackOptions();
        options.Peers.Add("udp://127.0.0.1:5000");
        var sut = new ZeroMqTransport(options);

        var e = Assert.ThrowsAsync<OptionsValidationError>(async () => await sut.StartAsync(new RecordingHandler()));

        Assert.That(e!.Key, Is.EqualTo("Cluster:ZeroMq:Peers:0"));
    }

    [Test]
    public async Task SendToGroup_ThreeNodes_EveryPeerReceivesOnTheZeroMqThread()
    {
        var nodes = await Mesh(3);
        var datagram = "group from 0"u8.ToArray();

        // PUB/SUB drops until the subscriptions reach the publisher: resend until they arrive.
        var delivered = await Eventually(
            () => nodes[1].Handler.Has(datagram) && nodes[2].Handler.Has(datagram),
            () => nodes[0].Transport.SendToGroup(datagram));

        Assert.That(delivered, Is.True, "both peers receive the group datagram");
        Assert.That(nodes[1].Handler.Threads, Is.All.EqualTo(ZeroMqTransport.ThreadName));
        Assert.That(nodes[0].Handler.Has(datagram), Is.False, "a node does not subscribe to its own PUB");
    }

    [Test]
    public async Task SendTo_ThreeNodes_OnlyTheTargetReceives()
    {
        var nodes = await Mesh(3);
        var unicast = "only for 1"u8.ToArray();
        var marker = "group marker"u8.ToArray();

        var delivered = await Eventually(() => nodes[1].Handler.Has(unicast), () => nodes[0].Transport.SendTo(nodes[1].Transport.LocalAddress, unicast));
        // Node 2 is reachable: once it has a later group datagram, a misrouted unicast would have arrived too.
        var markerSeen = await Eventually(() => nodes[2].Handler.Has(marker), () => nodes[0].Transport.SendToGroup(marker));

        Assert.That(delivered, Is.True);
        Assert.That(markerSeen, Is.True);
        Assert.That(nodes[2].Handler.Has(unicast), Is.False);
        Assert.That(nodes[0].Handler.Has(unicast), Is.False);
    }

    [Test]
    public async Task SendTo_ConnectedPeer_ArrivesOnceInOrder()
    {
        var nodes = await Mesh(2);
        var first = new byte[] { 0 };
        await Eventually(() => nodes[1].Handler.Has(first), () => nodes[0].Transport.SendTo(nodes[1].Transport.LocalAddress, first));
        var before = nodes[1].Handler.Datagrams.Count;

        for (var i = 1; i <= 200; i++)
            nodes[0].Transport.SendTo(nodes[1].Transport.LocalAddress, [(byte)i]);
        var all = await Eventually(() => nodes[1].Handler.Datagrams.Count >= before + 200);

        // PUSH/PULL over one TCP connection is FIFO and, below the high-water mark, loses nothing.
        var received = nodes[1].Handler.Datagrams.Skip(before).Select(d => (int)d[0]).ToArray();
        Assert.That(all, Is.True);
        Assert.That(received, Is.EqualTo(Enumerable.Range(1, 200).ToArray()));
    }

    [Test]
    public async Task Peers_SameListOnEveryNode_SkipsItselfAndReceivesTheOthers()
    {
        var a = new ZeroMqTransport(LoopbackOptions());
        _transports.Add(a);
        await a.StartAsync(new RecordingHandler());
        var options = LoopbackOptions();
        options.Peers.Add(a.PublishAddress);
        var handler = new RecordingHandler();
        var sut = new ZeroMqTransport(options);
        _transports.Add(sut);
        await sut.StartAsync(handler);
        var datagram = "from a"u8.ToArray();

        var delivered = await Eventually(() => handler.Has(datagram), () => a.SendToGroup(datagram));

        Assert.That(delivered, Is.True);
    }

    [Test]
    public async Task SendToGroup_LargestDatagram_ArrivesWhole()
    {
        var nodes = await Mesh(2, o => o.MaxDatagramSize = 8192);
        var datagram = Enumerable.Range(0, 8192).Select(i => (byte)i).ToArray();

        var delivered = await Eventually(() => nodes[1].Handler.Has(datagram), () => nodes[0].Transport.SendToGroup(datagram));

        Assert.That(delivered, Is.True);
    }

    [Test]
    public async Task SendToGroup_TooLarge_ThrowsArgumentException()
    {
        var nodes = await Mesh(1, o => o.MaxDatagramSize = 100);

        Assert.Throws<ArgumentException>(() => nodes[0].Transport.SendToGroup(new byte[101]));
    }

    [Test]
    public async Task SendTo_UnreachableAddress_IsDroppedNotThrown()
    {
        var nodes = await Mesh(1);

        nodes[0].Transport.SendTo("not-an-endpoint", [1]);
        var counted = await Eventually(() => nodes[0].Transport.Counters.Dropped == 1);

        Assert.That(counted, Is.True);
    }

    [Test]
    public async Task SendToGroup_BeforeStartAndAfterDispose_IsDroppedAndCounted()
    {
        var sut = new ZeroMqTransport(LoopbackOptions());

        sut.SendToGroup([1]);
        await sut.StartAsync(new RecordingHandler());
        await sut.DisposeAsync();
        sut.SendToGroup([2]);

        Assert.That(sut.Counters.Dropped, Is.EqualTo(2));
        Assert.That(sut.Counters.GroupSent, Is.EqualTo(0));
    }

    [Test]
    public async Task DisposeAsync_Twice_ClosesOnceAndFreesTheEndpoints()
    {
        var sut = new ZeroMqTransport(LoopbackOptions());
        await sut.StartAsync(new RecordingHandler());
        var local = sut.LocalAddress;

        await sut.DisposeAsync();
        await sut.DisposeAsync();

        // The port is free again: a new transport binds the same endpoint.
        var options = LoopbackOptions();
        options.UnicastEndpoint = local;
        var again = new ZeroMqTransport(options);
        _transports.Add(again);
        await again.StartAsync(new RecordingHandler());
        Assert.That(again.LocalAddress, Is.EqualTo(local));
    }

    [Test]
    public async Task OnDatagram_HandlerThrows_KeepsReceiving()
    {
        var nodes = await Mesh(1);
        var throwing = new ThrowingHandler();
        var sut = new ZeroMqTransport(LoopbackOptions());
        _transports.Add(sut);
        await sut.StartAsync(throwing);

        var survived = await Eventually(() => throwing.Calls >= 3, () => nodes[0].Transport.SendTo(sut.LocalAddress, [7]));

        Assert.That(survived, Is.True);
    }

    [Test]
    public async Task SendToGroup_ManyThreads_AllDatagramsSent()
    {
        var nodes = await Mesh(2);
        var sut = nodes[0].Transport;

        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 1000; i++)
                sut.SendToGroup([(byte)t, (byte)i]);
        })));
        var sent = await Eventually(() => sut.Counters.GroupSent == 4000);

        Assert.That(sent, Is.True);
        Assert.That(sut.Counters.Dropped, Is.EqualTo(0));
    }

    [Test]
    public async Task SendToGroup_RepeatedConcurrentBursts_NoneLeftWaitingInTheQueue()
    {
        // A lost wakeup leaves the last datagrams of a burst queued until the thread wakes for another reason.
        var nodes = await Mesh(1);
        var sut = nodes[0].Transport;
        long queued = 0;
        for (var round = 0; round < 300; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
            {
                for (var i = 0; i < 20; i++)
                    sut.SendToGroup([1]);
            })));
            queued += 40;
            var drained = await Eventually(() => sut.Counters.GroupSent + sut.Counters.Dropped == queued, timeout: TimeSpan.FromSeconds(10));
            Assert.That(drained, Is.True, $"round {round}: {queued - sut.Counters.GroupSent - sut.Counters.Dropped} datagrams still queued");
        }
    }

    [Test]
    public async Task Receive_MultiFrameMessage_IsDroppedAndCountedAndTheNextDatagramArrives()
    {
        var nodes = await Mesh(1);
        var sut = nodes[0].Transport;
        using var context = Interop.CreateContext();
        using var push = Interop.CreateSocket(context, Interop.ZMQ_PUSH);
        Interop.SetOption(push, Interop.ZMQ_LINGER, 0);
        Interop.Connect(push, sut.LocalAddress);

        // One ZeroMQ connection is FIFO: once the single frame has arrived, the two-frame message was handled.
        Interop.Send(push, "topic"u8, Interop.ZMQ_SNDMORE);
        Interop.Send(push, "body"u8, 0);
        Interop.Send(push, "single"u8, 0);
        var arrived = await Eventually(() => nodes[0].Handler.Has("single"u8.ToArray()));

        Assert.That(arrived, Is.True);
        Assert.That(nodes[0].Handler.Datagrams, Has.Count.EqualTo(1), "neither frame of the two-frame message is a datagram");
        Assert.That(sut.Counters.Invalid, Is.EqualTo(1));
    }

    private sealed class ThrowingHandler : Multicast.Transport.IDatagramHandler
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public void OnDatagram(ReadOnlySpan<byte> datagram)
        {
            Interlocked.Increment(ref _calls);
            throw new InvalidOperationException("handler bug");
        }
    }
}
