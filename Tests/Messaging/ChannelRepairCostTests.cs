using System.Text;
using Multicast.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>What repairs cost: a burst loss is repaired about once per lost packet, and two receivers that miss the same
/// packets each get their own copy rather than a multicast both then receive twice.</summary>
public sealed class ChannelRepairCostTests
{
    private InMemoryChannelNodes _nodes = null!;
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub()
    {
        _nodes = new InMemoryChannelNodes(seed: 7, "repair-cost", o =>
        {
            o.SuspectTimeout = TimeSpan.FromSeconds(30);
            o.SlowMemberTimeout = TimeSpan.FromSeconds(30);
        });
        _hub = _nodes.Hub;
    }

    [TearDown]
    public async Task DisposeChannels() => await _nodes.DisposeAsync();

    private static byte[] Message(int i) => Encoding.UTF8.GetBytes($"m{i}:" + new string('p', 1000));

    private static IEnumerable<string> Names(CollectingHandler handler, string from) =>
        handler.From(from).Select(m => Encoding.UTF8.GetString(m.Payload).Split(':')[0]);

    /// <param name="delayMs">One-way delay of every datagram: 10 ms makes the round trip four times the initial retry
    /// timeout, which the receiver must learn instead of asking again before the repairs can arrive.</param>
    [Test]
    public async Task BroadcastAsync_BurstLossAtOneReceiver_RepairsEachLostPacketAboutOnce([Values(0, 10)] int delayMs)
    {
        const int Lost = 1000;
        _hub.Delay = TimeSpan.FromMilliseconds(delayMs);
        var a = await _nodes.StartWithTransportAsync("a");
        var b = await _nodes.StartWithTransportAsync("b");
        var c = await _nodes.StartWithTransportAsync("c");
        await Eventually.Until(() => _nodes.All.All(n => n.Channel.View.Members.Count == 3), "one view");

        _hub.Partition(b.Transport.LocalAddress);
        long last = 0;
        for (var i = 0; i < Lost; i++)
            last = await a.Channel.BroadcastAsync(Message(i));
        await Eventually.Within(a.Channel.WaitForAcksAsync(last, 1), "c's ack of the burst");
        _hub.Heal();

        await Eventually.Within(a.Channel.WaitForAcksAsync(last, 2), "b's ack after the repairs");
        TestContext.Out.WriteLine($"{Lost} packets lost at b, one-way delay {delayMs} ms: sender {a.Channel.Counters}; b {b.Channel.Counters}");
        Assert.Multiple(() =>
        {
            Assert.That(Names(b.Handler, "a"), Is.EqualTo(Enumerable.Range(0, Lost).Select(i => $"m{i}")));
            // One packet per message: b lost Lost packets. Repeated requests wait for the repairs already on their way.
            Assert.That(a.Channel.Counters.Retransmissions, Is.InRange(Lost, 2 * Lost), "retransmissions for a burst of lost packets");
            Assert.That(c.Channel.Counters.Duplicates, Is.Zero, "c lost nothing and got no repairs");
        });
    }

    [Test]
    public async Task BroadcastAsync_TwoReceiversLoseTheSamePackets_EachGetsItsOwnRepairs()
    {
        var a = await _nodes.StartWithTransportAsync("a");
        var b = await _nodes.StartWithTransportAsync("b");
        var c = await _nodes.StartWithTransportAsync("c");
        await Eventually.Until(() => _nodes.All.All(n => n.Channel.View.Members.Count == 3), "one view");

        _hub.Partition(b.Transport.LocalAddress, c.Transport.LocalAddress);
        long last = 0;
        for (var i = 0; i < 100; i++)
            last = await a.Channel.BroadcastAsync(Message(i));
        // Admitted is not yet sent: heal once the partition has taken every packet from both.
        await Eventually.Until(() => _hub.Dropped >= 200, "the packets to be lost at both");
        _hub.Heal();

        await Eventually.Within(a.Channel.WaitForAcksAsync(last, 2), "both acks after the repairs");
        Assert.Multiple(() =>
        {
            foreach (var receiver in new[] { b, c })
                Assert.That(Names(receiver.Handler, "a"), Is.EqualTo(Enumerable.Range(0, 100).Select(i => $"m{i}")));
            Assert.That(a.Channel.Counters.Retransmissions, Is.GreaterThanOrEqualTo(200));
            // With two receivers a multicast repair would reach the one that has the packet already.
            Assert.That(a.Channel.Counters.MulticastRepairs, Is.Zero);
        });
    }
}
