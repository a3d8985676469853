using System.Text;
using Multicast.Messaging;
using Multicast.Messaging.Internal;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>
/// A suspicion is not a removal: a member that suspected its coordinator (and proposed a view without it that nobody
/// installed) and then installed the coordinator's next view, which kept them both, still receives the coordinator's
/// broadcasts — its stream state for the coordinator was kept, not reset.
/// </summary>
public sealed class ChannelSuspectedPeerTests
{
    private InMemoryChannelNodes _nodes = null!;
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub()
    {
        _nodes = new InMemoryChannelNodes(seed: 41, "suspected");
        _hub = _nodes.Hub;
    }

    [TearDown]
    public async Task DisposeNodes() => await _nodes.DisposeAsync();

    private Task<(ReliableGroupChannel Channel, CollectingHandler Handler)> Start(string id, Multicast.Transport.ITransport transport) =>
        _nodes.StartAsync(id, transport);

    private static bool Got(CollectingHandler handler, string from, string text) =>
        handler.From(from).Any(m => Encoding.UTF8.GetString(m.Payload) == text);

    /// <summary>c (the oldest, so the coordinator) and a, whose traffic the test sorts, in one view.</summary>
    private async Task<((ReliableGroupChannel Channel, CollectingHandler Handler) C, (ReliableGroupChannel Channel, CollectingHandler Handler) A, GatedTransport Gate)> StartCoordinatorAndMemberAsync()
    {
        var c = await Start("c", _hub.CreateTransport());
        var gate = new GatedTransport(_hub, _hub.CreateTransport());
        var a = await Start("a", gate);
        await Eventually.Until(() => c.Channel.View.Members.Count == 2 && a.Channel.View.Id == c.Channel.View.Id, "c and a in one view");
        return (c, a, gate);
    }

    /// <summary>The link c → a is cut: a suspects c and proposes a view without it, and its proposals are lost.</summary>
    private async Task SuspectWithProposalLostAsync(GatedTransport gate, string cAddress, string aAddress)
    {
        gate.DropOutgoing((kind, _) => kind == PacketKind.View);
        _hub.BlockLink(cAddress, aAddress);
        await Eventually.Until(() => gate.DroppedOutgoing > 0, "a suspects c and proposes a view without it");
    }

    [Test]
    public async Task SuspectedCoordinator_KeptInItsNextView_ItsBroadcastsAreStillDelivered()
    {
        var (c, a, gate) = await StartCoordinatorAndMemberAsync();
        await c.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("before"));
        await Eventually.Until(() => Got(a.Handler, "c", "before"), "a receives c's broadcasts");
        var cAddress = c.Channel.LocalMember.Address;
        var aAddress = a.Channel.LocalMember.Address;
        var viewBefore = a.Channel.View.Id;

        // a stops hearing c (c still hears a), suspects it and proposes a view without it; the proposal is lost.
        await SuspectWithProposalLostAsync(gate, cAddress, aAddress);
        Assert.That(a.Channel.View.Id, Is.EqualTo(viewBefore), "a installed nothing: its proposal never arrived, not even at itself");
        Assert.That(c.Channel.View.Members.Select(m => m.NodeId), Does.Contain("a"), "c heard a all along");
        await c.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("during")); // lost on the cut link, repaired later

        // The link heals; c's next view (a joiner that only c hears) keeps both, and a installs it.
        _hub.UnblockLink(cAddress, aAddress);
        // a hears c again before c's next view arrives (the view alone would also do: the test below).
        var heard = gate.ReceivedOf(PacketKind.Heartbeat);
        await Eventually.Until(() => gate.ReceivedOf(PacketKind.Heartbeat) >= heard + 2, "a hears c's heartbeats again");
        var joinerTransport = _hub.CreateTransport();
        _hub.BlockLink(joinerTransport.LocalAddress, aAddress);
        var j = await Start("j", joinerTransport);
        await Eventually.Until(() => a.Channel.View.Id == c.Channel.View.Id && a.Channel.View.Members.Count == 3,
            "a installs c's view with all three", () => $"a: {a.Channel.View}, c: {c.Channel.View}");
        // Kept, c is no longer suspected at a: a does not act as coordinator any more (its proposals would still be lost).
        var droppedAtInstall = gate.DroppedOutgoing;
        var heartbeats = gate.SentOf(PacketKind.Heartbeat);
        await Eventually.Until(() => gate.SentOf(PacketKind.Heartbeat) >= heartbeats + 3, "a few heartbeat turns of a (each one reconciles, were it coordinator)");
        Assert.That(gate.DroppedOutgoing, Is.EqualTo(droppedAtInstall), "a proposed no view after the one that kept c");
        _hub.UnblockLink(joinerTransport.LocalAddress, aAddress);
        gate.DropOutgoing(null);

        await c.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("after"));
        await Eventually.Until(() => Got(j.Handler, "c", "after"), "the joiner receives c's broadcast");
        await Eventually.Until(() => Got(a.Handler, "c", "after"), "a still receives c's broadcasts",
            () => $"a got from c: [{string.Join(", ", a.Handler.From("c").Select(m => Encoding.UTF8.GetString(m.Payload)))}]");
        Assert.That(a.Handler.From("c").Select(m => Encoding.UTF8.GetString(m.Payload)), Is.EqualTo(new[] { "before", "during", "after" }),
            "c's stream at a went on where it was: in order, nothing lost, nothing twice");
        Assert.That(a.Handler.Exclusions, Is.Empty, "a was never removed");
        Assert.That(a.Channel.View.Members.Select(m => m.NodeId), Does.Contain("c"));
    }

    [Test]
    public async Task ViewFromASuspectedCoordinator_IsProofItIsAlive_TheMemberDoesNotSuspectItAgainAtOnce()
    {
        var (c, a, gate) = await StartCoordinatorAndMemberAsync();
        var cAddress = c.Channel.LocalMember.Address;
        var aAddress = a.Channel.LocalMember.Address;

        // a stops hearing c (c still hears a), suspects it and proposes a view without it; the proposal is lost.
        await SuspectWithProposalLostAsync(gate, cAddress, aAddress);

        // The link heals, but of c's traffic only its views reach a: no heartbeat tells a that c is back.
        gate.HoldIncoming(kind => kind == PacketKind.View);
        _hub.UnblockLink(cAddress, aAddress);
        var joinerTransport = _hub.CreateTransport();
        _hub.BlockLink(joinerTransport.LocalAddress, aAddress);
        var j = await Start("j", joinerTransport);
        await Eventually.Until(() => a.Channel.View.Id == c.Channel.View.Id && a.Channel.View.Members.Count == 3,
            "a installs c's view with all three", () => $"a: {a.Channel.View}, c: {c.Channel.View}");

        // The view came from c itself: a counts it as hearing c, so it does not act as coordinator again right away.
        var droppedAtInstall = gate.DroppedOutgoing;
        var heartbeats = gate.SentOf(PacketKind.Heartbeat);
        await Eventually.Until(() => gate.SentOf(PacketKind.Heartbeat) >= heartbeats + 3, "a few heartbeat turns of a (each one reconciles, were it coordinator)");
        Assert.That(gate.DroppedOutgoing, Is.EqualTo(droppedAtInstall), "a proposed no view after installing c's");

        gate.ReleaseIncoming();
        _hub.UnblockLink(joinerTransport.LocalAddress, aAddress);
        gate.DropOutgoing(null);
        await c.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("after"));
        await Eventually.Until(() => Got(a.Handler, "c", "after") && Got(j.Handler, "c", "after"), "c's broadcasts reach a and the joiner");
        Assert.That(a.Handler.Exclusions, Is.Empty, "a was never removed");
    }
}
