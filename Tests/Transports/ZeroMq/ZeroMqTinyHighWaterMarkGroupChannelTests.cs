using System.Text;
using Multicast.Tests.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transport;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>
/// The group channel contract over ZeroMQ whose sockets hold only a few messages (ZMQ_SNDHWM = ZMQ_RCVHWM = 10):
/// PUB drops whatever exceeds that, silently, and PUSH refuses it; the channel's NAKs and repairs must make good.
/// </summary>
[Category("Integration")]
public sealed class ZeroMqTinyHighWaterMarkGroupChannelTests : GroupChannelContractTests
{
    private const int HighWaterMark = 10;
    private ZeroMqTestNetwork _network = null!;

    [SetUp]
    public void CreateNetwork() => _network = new ZeroMqTestNetwork(o => o.SendHighWaterMark = o.ReceiveHighWaterMark = HighWaterMark);

    protected override ITransport CreateTransport() => _network.CreateTransport();

    [Test]
    public async Task BroadcastAsync_BurstFarPastTheHighWaterMark_EveryMessageOnceInOrderAfterRepairs()
    {
        var nodes = await StartGroup(3);
        var sender = nodes[0];
        const int Count = 3000;
        var payload = new string('p', 600);

        var sends = new List<ValueTask<long>>(Count);
        for (var i = 0; i < Count; i++)
            sends.Add(sender.Channel.BroadcastAsync(Encoding.UTF8.GetBytes($"{i}:{payload}")));
        foreach (var send in sends)
            await send;

        foreach (var receiver in nodes.Skip(1))
            await Eventually.Until(() => receiver.Handler.CountFrom(sender.Id) >= Count, $"{receiver.Id} has {Count} from {sender.Id}");
        foreach (var receiver in nodes.Skip(1))
        {
            var indexes = receiver.Handler.From(sender.Id)
                .Select(m => int.Parse(Encoding.UTF8.GetString(m.Payload).Split(':')[0], System.Globalization.CultureInfo.InvariantCulture))
                .ToArray();
            Assert.That(indexes, Is.EqualTo(Enumerable.Range(0, Count)), $"{receiver.Id}: every message once, in order");
        }
        // The proof that PUB/SUB dropped and the channel repaired: receivers asked again, the sender sent again.
        var naks = nodes.Skip(1).Sum(n => n.Channel.Counters.NaksSent);
        TestContext.Out.WriteLine($"NAKs sent by receivers: {naks}; sender: {sender.Channel.Counters}");
        Assert.That(naks, Is.GreaterThan(0), "receivers saw gaps (PUB/SUB dropped past the high-water mark)");
        Assert.That(sender.Channel.Counters.Retransmissions, Is.GreaterThan(0), "the sender repaired them");
    }
}
