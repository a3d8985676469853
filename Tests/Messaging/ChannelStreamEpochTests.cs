using System.Text;
using Multicast.Messaging;
using Multicast.Messaging.Internal;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>
/// A member that leaves its group and comes back with the same incarnation (here: a partition both ways makes each node
/// form its own group; healed, the younger merges into the older) gets fresh streams on both sides. What is still on its
/// way from the streams before must never be taken for the new ones (docs/messaging.md, "Stream epochs"): a packet of the
/// old unicast stream has the sequence number of a packet of the new one, and an acknowledgement from the old state
/// confirms nothing of the new one — each of which lost a store message for good in the nemesis (N12).
/// </summary>
public sealed class ChannelStreamEpochTests
{
    private InMemoryChannelNodes _nodes = null!;
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub()
    {
        _nodes = new InMemoryChannelNodes(seed: 43, "epochs");
        _hub = _nodes.Hub;
    }

    [TearDown]
    public async Task DisposeNodes() => await _nodes.DisposeAsync();

    private Task<(ReliableGroupChannel Channel, CollectingHandler Handler)> Start(string id, Multicast.Transport.ITransport transport) =>
        _nodes.StartAsync(id, transport, o =>
        {
            o.SuspectTimeout = TimeSpan.FromSeconds(1.5);
            o.SendTimeout = TimeSpan.FromSeconds(10);
        });

    private static string[] Texts(IEnumerable<CollectingHandler.Received> messages) =>
        messages.Select(m => Encoding.UTF8.GetString(m.Payload)).ToArray();

    private static bool Got(CollectingHandler handler, string from, string text, bool unicast = false) =>
        Texts(handler.From(from, unicast)).Contains(text);

    /// <summary>c and b in one view; c the older. Both sides of their link are cut until each is alone in a view of its
    /// own, then healed: b merges into c's group, keeping its incarnation.</summary>
    private async Task SplitAndMerge((ReliableGroupChannel Channel, CollectingHandler Handler) c, (ReliableGroupChannel Channel, CollectingHandler Handler) b,
        Action? beforeHealing = null)
    {
        var (cAddress, bAddress) = (c.Channel.LocalMember.Address, b.Channel.LocalMember.Address);
        _hub.BlockLink(cAddress, bAddress);
        _hub.BlockLink(bAddress, cAddress);
        await Eventually.Until(() => c.Channel.View.Members.Count == 1 && b.Channel.View.Members.Count == 1, "c and b each alone",
            () => $"c: {c.Channel.View}, b: {b.Channel.View}");
        beforeHealing?.Invoke();
        _hub.UnblockLink(cAddress, bAddress);
        _hub.UnblockLink(bAddress, cAddress);
        await Eventually.Until(() => c.Channel.View.Members.Count == 2 && b.Channel.View.Id == c.Channel.View.Id, "b merged into c's group",
            () => $"c: {c.Channel.View}, b: {b.Channel.View}");
        // (with the same incarnation: it is the same channel)
        await Eventually.Until(() => b.Handler.Exclusions.Count > 0, "b is told that it left its own group to merge");
    }

    [Test]
    public async Task OldUnicastPacketArrivesAfterAMerge_TheNewStreamsPacketOfTheSameNumberIsDeliveredAndTheOldOneNot()
    {
        var gate = new GatedTransport(_hub, _hub.CreateTransport());
        var c = await Start("c", gate);
        var b = await Start("b", _hub.CreateTransport());
        await Eventually.Until(() => c.Channel.View.Members.Count == 2 && b.Channel.View.Id == c.Channel.View.Id, "c and b in one view");
        var bAddress = b.Channel.LocalMember.Address;
        await c.Channel.SendAsync("b", Encoding.UTF8.GetBytes("u-old-1"));
        await Eventually.Until(() => Got(b.Handler, "c", "u-old-1", unicast: true), "b receives c's first unicast");

        // c's second unicast (packet 2 of its unicast stream to b) is held back on the way: it reaches b only after the merge.
        gate.DropOutgoing((kind, to) => kind == PacketKind.UnicastData && to == bAddress);
        await c.Channel.SendAsync("b", Encoding.UTF8.GetBytes("u-old-2"));
        await Eventually.Until(() => gate.DroppedDatagrams.Count > 0, "c sends its second unicast");
        var late = gate.DroppedDatagrams[0];
        Assert.That(PacketHeader.TryRead(late, out var lateHeader) && lateHeader.Sequence == 2, "the held datagram is packet 2 of c's unicast stream");

        await SplitAndMerge(c, b, beforeHealing: () => gate.DropOutgoing(null));
        var before = b.Handler.From("c", unicast: true).Count;
        var staleBefore = b.Channel.Counters.StaleStream;
        await c.Channel.SendAsync("b", Encoding.UTF8.GetBytes("u-new-1"));
        await Eventually.Until(() => Got(b.Handler, "c", "u-new-1", unicast: true), "b receives c's first unicast of the new stream");

        _hub.Inject(bAddress, late); // packet 2 of the old stream
        await c.Channel.SendAsync("b", Encoding.UTF8.GetBytes("u-new-2")); // packet 2 of the new one

        await Eventually.Until(() => Got(b.Handler, "c", "u-new-2", unicast: true), "b receives c's second unicast of the new stream",
            () => $"b got from c: [{string.Join(", ", Texts(b.Handler.From("c", unicast: true)))}], b: {b.Channel.Counters}");
        Assert.That(Texts(b.Handler.From("c", unicast: true).Skip(before)), Is.EqualTo(new[] { "u-new-1", "u-new-2" }),
            "after the merge only the new stream's messages, in order");
        Assert.That(b.Channel.Counters.StaleStream, Is.GreaterThan(staleBefore), "the old stream's packet was counted");
    }

    [Test]
    public async Task AckFromBeforeAMergeConfirmsTheOldStart_TheMemberAsksForTheNewStartAndGetsTheBroadcasts()
    {
        var cGate = new GatedTransport(_hub, _hub.CreateTransport());
        var bGate = new GatedTransport(_hub, _hub.CreateTransport());
        var c = await Start("c", cGate);
        var b = await Start("b", bGate);
        await Eventually.Until(() => c.Channel.View.Members.Count == 2 && b.Channel.View.Id == c.Channel.View.Id, "c and b in one view");
        var (cAddress, bAddress) = (c.Channel.LocalMember.Address, b.Channel.LocalMember.Address);
        await c.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("before"));
        await Eventually.Until(() => Got(b.Handler, "c", "before"), "b receives c's broadcast");

        // An acknowledgement b sends of c's broadcast stream is held back on the way: it reaches c only after the merge.
        bGate.DropOutgoing((kind, to) => kind == PacketKind.Ack && to == cAddress);
        await c.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("before-2"));
        await Eventually.Until(() => Got(b.Handler, "c", "before-2") && bGate.DroppedDatagrams.Count > 0, "b acknowledges c's second broadcast");
        var late = bGate.DroppedDatagrams[^1];

        // After the merge c tells b where its broadcast stream starts for b (a StreamStart, and in its heartbeats until
        // b acknowledges): lost until the old acknowledgement arrived.
        var announce = false;
        await SplitAndMerge(c, b, beforeHealing: () =>
        {
            bGate.DropOutgoing(null);
            cGate.DropOutgoingDatagrams((kind, to, datagram) => !Volatile.Read(ref announce)
                && (kind == PacketKind.StreamStart || kind == PacketKind.Heartbeat && AnnouncesStarts(datagram)));
        });
        var malformed = c.Channel.Counters.RejectedMalformed;
        _hub.Inject(cAddress, late);
        _hub.Inject(cAddress, [1, 2, 3]); // behind it in c's queue: once it is counted, the old ack was read
        await Eventually.Until(() => c.Channel.Counters.RejectedMalformed > malformed, "c reads the old acknowledgement");
        Volatile.Write(ref announce, true);

        await c.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("after"));
        await Eventually.Until(() => Got(b.Handler, "c", "after"), "b receives c's broadcast after the merge",
            () => $"b got from c: [{string.Join(", ", Texts(b.Handler.From("c")))}], b: {b.Channel.Counters}");
        Assert.That(Texts(b.Handler.From("c")), Is.EqualTo(new[] { "before", "before-2", "after" }), "each once, in order");
        Assert.That(cGate.DroppedOutgoing, Is.GreaterThan(0), "c's announcements of the start were lost");
    }

    /// <summary>Whether a heartbeat lists stream starts (for members that have not acknowledged them).</summary>
    private static bool AnnouncesStarts(ReadOnlySpan<byte> datagram)
    {
        var reader = new PayloadReader(datagram[PacketHeader.Size..]);
        return reader.TryReadString(out _) && reader.TryReadString(out _) && reader.TryReadInt64(out _) && reader.TryReadUInt32(out _)
            && reader.TryReadInt64(out _) && reader.TryReadByte(out _) && reader.TryReadUInt16(out var starts) && starts > 0;
    }
}
