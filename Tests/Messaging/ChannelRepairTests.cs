using System.Diagnostics.Metrics;
using System.Text;
using Multicast.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>Repair paths forced with the in-memory network's partitions, and the published metrics.</summary>
public sealed class ChannelRepairTests
{
    private readonly List<ReliableGroupChannel> _channels = [];
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub() => _hub = new InMemoryHub(seed: 5);

    [TearDown]
    public async Task DisposeChannels()
    {
        foreach (var channel in _channels)
            await channel.DisposeAsync();
        _channels.Clear();
    }

    private async Task<(ReliableGroupChannel Channel, CollectingHandler Handler, InMemoryTransport Transport)> Start(string nodeId)
    {
        var transport = _hub.CreateTransport();
        var channel = new ReliableGroupChannel(transport, new GroupChannelOptions
        {
            ClusterId = "repair",
            NodeId = nodeId,
            HeartbeatInterval = TimeSpan.FromMilliseconds(50),
            SuspectTimeout = TimeSpan.FromSeconds(30),
            JoinTimeout = TimeSpan.FromMilliseconds(200),
            JoinRetryInterval = TimeSpan.FromMilliseconds(30),
        });
        _channels.Add(channel);
        var handler = new CollectingHandler();
        await Eventually.Within(channel.StartAsync(handler).AsTask(), $"{nodeId} to join");
        return (channel, handler, transport);
    }

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
        await Eventually.Until(() => _channels.All(ch => ch.View.Members.Count == 3), "one view");

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
    public async Task Counters_ArePublishedOnTheMulticastMeter()
    {
        var a = await Start("a");
        var b = await Start("b");
        await Eventually.Until(() => a.Channel.View.Members.Count == 2, "one view");
        await a.Channel.BroadcastAsync(new byte[] { 1 });
        await Eventually.Until(() => b.Handler.Count == 1, "delivery");
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
                if (tag.Key == "node.id" && (string?)tag.Value == "b")
                    delivered = value;
            }
        });
        listener.Start();

        listener.RecordObservableInstruments();

        Assert.That(delivered, Is.EqualTo(1));
    }
}
