using System.Diagnostics.Metrics;
using System.Text;
using Multicast.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>Repair paths forced with the in-memory network's partitions, and the published metrics.</summary>
public sealed class ChannelRepairTests
{
    private InMemoryChannelNodes _nodes = null!;
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub()
    {
        _nodes = new InMemoryChannelNodes(seed: 5, "repair", o => o.SuspectTimeout = TimeSpan.FromSeconds(30));
        _hub = _nodes.Hub;
    }

    [TearDown]
    public async Task DisposeChannels() => await _nodes.DisposeAsync();

    private Task<(ReliableGroupChannel Channel, CollectingHandler Handler, InMemoryTransport Transport)> Start(string nodeId, TimeSpan? suspectTimeout = null) =>
        _nodes.StartWithTransportAsync(nodeId, suspectTimeout is { } suspect ? o => o.SuspectTimeout = suspect : null);

    [Test]
    public async Task BroadcastAsync_LastMessageLost_IsRepairedFromTheTail()
    {
        var a = await Start("a");
        var b = await Start("b");
        await Eventually.Until(() => a.Channel.View.Members.Count == 2 && b.Channel.View.Members.Count == 2, "one view");
        await a.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("first"));
        await Eventually.Until(() => b.Handler.CountFrom("a") == 1, "the first message");

        _hub.Partition(b.Transport.LocalAddress);
        var seq = await a.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("lost last"));
        await Eventually.Until(() => _hub.Dropped > 0, "the message to be lost");
        _hub.Heal();

        await Eventually.Within(a.Channel.WaitForAcksAsync(seq, 1), "the repaired message's ack");
        Assert.That(b.Handler.From("a").Select(m => Encoding.UTF8.GetString(m.Payload)), Is.EqualTo(new[] { "first", "lost last" }));
        Assert.That(b.Channel.Counters.NaksSent, Is.GreaterThan(0));
        Assert.That(a.Channel.Counters.Retransmissions, Is.GreaterThan(0));
    }

    [Test]
    public async Task BroadcastAsync_ManyPacketsLostByTwoReceivers_AllRepairedInOrder()
    {
        var a = await Start("a");
        var b = await Start("b");
        var c = await Start("c");
        await Eventually.Until(() => _nodes.All.All(n => n.Channel.View.Members.Count == 3), "one view");

        _hub.Partition(b.Transport.LocalAddress, c.Transport.LocalAddress);
        long last = 0;
        for (var i = 0; i < 200; i++)
            last = await a.Channel.BroadcastAsync(Encoding.UTF8.GetBytes($"m{i}:" + new string('p', 500)));
        _hub.Heal();

        await Eventually.Within(a.Channel.WaitForAcksAsync(last, 2), "acks from both");
        foreach (var r in new[] { b, c })
            Assert.That(r.Handler.From("a").Select(m => Encoding.UTF8.GetString(m.Payload).Split(':')[0]), Is.EqualTo(Enumerable.Range(0, 200).Select(i => $"m{i}")));
        Assert.That(a.Channel.Counters.Retransmissions, Is.GreaterThan(0));
    }

    [Test]
    public async Task StartAsync_TwoNodesAtOnce_EndInOneView()
    {
        var started = await Task.WhenAll(Start("x"), Start("y"));

        try
        {
            await Eventually.Until(() => started.All(n => n.Channel.View.Members.Count == 2 && n.Channel.View.Id == started[0].Channel.View.Id),
                "one view of both", TimeSpan.FromSeconds(60));
        }
        finally
        {
            foreach (var (channel, _, _) in started)
                TestContext.Out.WriteLine($"{channel.LocalMember}: {channel.View}; {channel.Counters}");
        }
        var seq = await started[1].Channel.BroadcastAsync(Encoding.UTF8.GetBytes("merged"));
        await Eventually.Within(started[1].Channel.WaitForAcksAsync(seq, 1), "the ack");
        Assert.That(started[0].Handler.From("y").Select(m => Encoding.UTF8.GetString(m.Payload)), Does.Contain("merged"));
    }

    [Test]
    public async Task Partition_Healed_GroupsMergeAndTrafficFlowsAgain()
    {
        var suspect = TimeSpan.FromMilliseconds(400);
        var a = await Start("a", suspect);
        var b = await Start("b", suspect);
        var c = await Start("c", suspect);
        await Eventually.Until(() => _nodes.All.All(n => n.Channel.View.Members.Count == 3), "one view");

        _hub.Partition(a.Transport.LocalAddress);
        await Eventually.Until(() => a.Channel.View.Members.Count == 1 && b.Channel.View.Members.Count == 2 && c.Channel.View.Members.Count == 2, "the split");
        _hub.Heal();

        await Eventually.Until(() => _nodes.All.All(n => n.Channel.View.Members.Count == 3 && n.Channel.View.Id == a.Channel.View.Id), "the merge");
        for (var i = 0; i < 20; i++)
        {
            await a.Channel.BroadcastAsync(Encoding.UTF8.GetBytes($"a{i}"));
            await c.Channel.BroadcastAsync(Encoding.UTF8.GetBytes($"c{i}"));
        }
        await Eventually.Until(() => b.Handler.From("a").Count(m => m.Payload[0] == (byte)'a') >= 20 && b.Handler.From("c").Count(m => m.Payload[0] == (byte)'c') >= 20, "traffic after the merge");
        Assert.That(b.Handler.From("a").Select(m => Encoding.UTF8.GetString(m.Payload)).Where(p => p.StartsWith('a')), Is.EqualTo(Enumerable.Range(0, 20).Select(i => $"a{i}")));
    }

    [Test]
    public async Task Counters_ArePublishedOnTheMulticastMeter()
    {
        var id = $"meter-{Guid.NewGuid():N}"; // the meter is process-wide: other tests' channels publish too
        var a = await Start("a");
        var b = await Start(id);
        await Eventually.Until(() => a.Channel.View.Members.Count == 2, "one view");
        await a.Channel.BroadcastAsync(new byte[] { 1 });
        await Eventually.Until(() => b.Channel.Counters.Delivered == 1, "delivery");
        long delivered = 0;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Multicast" && instrument.Name == "multicast.channel.delivered")
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "node.id" && (string?)tag.Value == id)
                    delivered = value;
            }
        });
        listener.Start();

        listener.RecordObservableInstruments();

        Assert.That(delivered, Is.EqualTo(1));
    }
}
