using System.Globalization;
using System.Text;
using Multicast.Messaging;
using Multicast.Tests.TestSupport;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>
/// The group channel over ZeroMQ whose sockets hold only a few messages (ZMQ_SNDHWM = ZMQ_RCVHWM = 10): PUB drops
/// whatever exceeds that, silently, and PUSH refuses it. The channel's NAKs and repairs must make good.
/// </summary>
[Category("Integration")]
public sealed class ZeroMqTinyHighWaterMarkTests
{
    private const int HighWaterMark = 10;
    private readonly List<(ReliableGroupChannel Channel, CollectingHandler Handler)> _nodes = [];

    [TearDown]
    public async Task StopNodes()
    {
        foreach (var (channel, handler) in _nodes)
        {
            Assert.That(handler.ContractViolation, Is.Null);
            TestContext.Out.WriteLine($"{channel.LocalMember}: {channel.Counters}");
            await channel.DisposeAsync();
        }
        _nodes.Clear();
    }

    private async Task<(ReliableGroupChannel Channel, CollectingHandler Handler)[]> StartGroup(int count)
    {
        var network = new ZeroMqTestNetwork(o => o.SendHighWaterMark = o.ReceiveHighWaterMark = HighWaterMark);
        var cluster = $"tiny-hwm-{Guid.NewGuid():N}";
        for (var i = 0; i < count; i++)
        {
            var channel = new ReliableGroupChannel(network.CreateTransport(), new GroupChannelOptions
            {
                ClusterId = cluster,
                NodeId = $"node{i}",
                HeartbeatInterval = TimeSpan.FromMilliseconds(50),
                SuspectTimeout = TimeSpan.FromSeconds(3),
                JoinTimeout = TimeSpan.FromMilliseconds(300),
                JoinRetryInterval = TimeSpan.FromMilliseconds(30),
                SendTimeout = TimeSpan.FromSeconds(30),
            });
            var handler = new CollectingHandler();
            _nodes.Add((channel, handler));
            await Eventually.Within(channel.StartAsync(handler).AsTask(), $"node{i} to join");
        }
        var nodes = _nodes.ToArray();
        await Eventually.Until(() => nodes.All(n => n.Channel.View.Members.Count == count), $"every node sees {count} members");
        return nodes;
    }

    private static int IndexOf(CollectingHandler.Received message) =>
        int.Parse(Encoding.UTF8.GetString(message.Payload).Split(':')[0], CultureInfo.InvariantCulture);

    [Test]
    public async Task BroadcastAsync_BurstFarPastTheHighWaterMark_EveryMessageOnceInOrderAfterRepairs()
    {
        var nodes = await StartGroup(3);
        var sender = nodes[0];
        var senderId = sender.Channel.LocalMember.NodeId;
        const int Count = 2000;
        var padding = new string('p', 600);

        var sends = new List<ValueTask<long>>(Count);
        for (var i = 0; i < Count; i++)
            sends.Add(sender.Channel.BroadcastAsync(Encoding.UTF8.GetBytes($"{i}:{padding}")));
        foreach (var send in sends)
            await send;

        foreach (var (_, handler) in nodes.Skip(1))
            await Eventually.Until(() => handler.CountFrom(senderId) >= Count, $"a receiver has {Count} messages");
        foreach (var (channel, handler) in nodes.Skip(1))
            Assert.That(handler.From(senderId).Select(IndexOf), Is.EqualTo(Enumerable.Range(0, Count)), $"{channel.LocalMember}: every message once, in order");
        // The proof that PUB/SUB dropped and the channel repaired: receivers asked again, the sender sent again.
        Assert.That(nodes.Skip(1).Sum(n => n.Channel.Counters.NaksSent), Is.GreaterThan(0), "receivers saw gaps (drops past the high-water mark)");
        Assert.That(sender.Channel.Counters.Retransmissions, Is.GreaterThan(0), "the sender repaired them");
    }

    [Test]
    public async Task SendAsync_BurstFarPastTheHighWaterMark_EveryMessageOnceInOrder()
    {
        var nodes = await StartGroup(2);
        var target = nodes[1].Channel.LocalMember.NodeId;
        var senderId = nodes[0].Channel.LocalMember.NodeId;
        const int Count = 1000;
        var padding = new string('u', 600);

        var sends = new List<ValueTask>(Count);
        for (var i = 0; i < Count; i++)
            sends.Add(nodes[0].Channel.SendAsync(target, Encoding.UTF8.GetBytes($"{i}:{padding}")));
        foreach (var send in sends)
            await send;

        await Eventually.Until(() => nodes[1].Handler.CountFrom(senderId, unicast: true) >= Count, $"the target has {Count} unicasts");
        Assert.That(nodes[1].Handler.From(senderId, unicast: true).Select(IndexOf), Is.EqualTo(Enumerable.Range(0, Count)));
    }
}
