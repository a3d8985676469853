using System.Collections.Concurrent;
using Multicast.Tests.TestSupport;
using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Transports.InMemory;

public sealed partial class InMemoryTransportTests
{
    private readonly List<InMemoryTransport> _transports = [];

    [TearDown]
    public async Task DisposeTransports()
    {
        foreach (var t in _transports)
            await t.DisposeAsync();
        _transports.Clear();
    }

    private sealed class Recorder : IDatagramHandler
    {
        public ConcurrentQueue<byte[]> Received { get; } = new();
        public ConcurrentBag<string?> Threads { get; } = [];

        public void OnDatagram(ReadOnlySpan<byte> datagram)
        {
            Threads.Add(Thread.CurrentThread.Name);
            Received.Enqueue(datagram.ToArray());
        }
    }

    private async Task<(InMemoryTransport Transport, Recorder Recorder)> Start(InMemoryHub hub)
    {
        var transport = hub.CreateTransport();
        _transports.Add(transport);
        var recorder = new Recorder();
        await transport.StartAsync(recorder);
        return (transport, recorder);
    }

    [Test]
    public async Task SendToGroup_ReachesEveryOtherTransportOnItsNamedReceiveThread()
    {
        var hub = new InMemoryHub();
        var a = await Start(hub);
        var b = await Start(hub);
        var c = await Start(hub);

        a.Transport.SendToGroup([1, 2, 3]);

        await Eventually.Until(() => b.Recorder.Received.Count == 1 && c.Recorder.Received.Count == 1, "both others receive");
        Assert.That(b.Recorder.Received.Single(), Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(b.Recorder.Threads.Single(), Does.StartWith("Multicast InMemory Receive"));
        Assert.That(a.Recorder.Received, Is.Empty, "no loopback of group sends");
    }

    [Test]
    public async Task SendTo_OwnAddress_IsDelivered()
    {
        var hub = new InMemoryHub { DropProbability = 1 };
        var a = await Start(hub);

        a.Transport.SendTo(a.Transport.LocalAddress, [9]);

        await Eventually.Until(() => a.Recorder.Received.Count == 1, "self delivery, never faulted");
    }

    [Test]
    public async Task Faults_DropAndDuplicate_ApplyPerCopy()
    {
        var hub = new InMemoryHub { DuplicateProbability = 1 };
        var a = await Start(hub);
        var b = await Start(hub);

        a.Transport.SendTo(b.Transport.LocalAddress, [1]);
        await Eventually.Until(() => b.Recorder.Received.Count == 2, "a duplicate");

        hub.DuplicateProbability = 0;
        hub.DropProbability = 1;
        for (var i = 0; i < 10; i++)
            a.Transport.SendTo(b.Transport.LocalAddress, [2]);
        hub.DropProbability = 0;
        a.Transport.SendTo(b.Transport.LocalAddress, [3]);

        await Eventually.Until(() => b.Recorder.Received.Count == 3, "the last datagram");
        Assert.That(b.Recorder.Received.Select(d => d[0]), Is.EqualTo(new byte[] { 1, 1, 3 }));
        Assert.That(hub.Dropped, Is.EqualTo(10));
    }

    [Test]
    public async Task Partition_CutsOffTheGivenAddressesUntilHealed()
    {
        var hub = new InMemoryHub();
        var a = await Start(hub);
        var b = await Start(hub);

        hub.Partition(b.Transport.LocalAddress);
        a.Transport.SendToGroup([1]);
        hub.Heal();
        a.Transport.SendToGroup([2]);

        await Eventually.Until(() => b.Recorder.Received.Count == 1, "the datagram after healing");
        Assert.That(b.Recorder.Received.Single(), Is.EqualTo(new byte[] { 2 }));
    }

    [Test]
    public async Task Reorder_HeldBackDatagram_ArrivesAfterTheNextOne()
    {
        var hub = new InMemoryHub { ReorderProbability = 1, ReorderHoldTime = TimeSpan.FromSeconds(30) };
        var a = await Start(hub);
        var b = await Start(hub);

        a.Transport.SendTo(b.Transport.LocalAddress, [1]);
        hub.ReorderProbability = 0;
        a.Transport.SendTo(b.Transport.LocalAddress, [2]);

        await Eventually.Until(() => b.Recorder.Received.Count == 2, "both datagrams");
        Assert.That(b.Recorder.Received.Select(d => d[0]), Is.EqualTo(new byte[] { 2, 1 }));
    }
}
