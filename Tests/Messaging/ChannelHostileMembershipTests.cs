using System.Text;
using Multicast.Messaging;
using Multicast.Messaging.Internal;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>
/// Forged membership traffic — views, joins, leaves, suspicions, acks, heartbeats with absurd view ids, NAK storms — from a
/// stranger and in members' names, against a group with and without a cluster key: every kind is rejected and
/// counted, nobody is removed, every stream keeps delivering, and membership still changes afterwards.
/// </summary>
public sealed class ChannelHostileMembershipTests
{
    private const string ClusterId = "hostile-membership";
    private const string Key = "hostile-membership-key-0123456789";

    private InMemoryChannelNodes _nodes = null!;
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub()
    {
        _nodes = new InMemoryChannelNodes(seed: 9, ClusterId, o => o.SuspectTimeout = TimeSpan.FromSeconds(3));
        _hub = _nodes.Hub;
    }

    [TearDown]
    public async Task DisposeNodes() => await _nodes.DisposeAsync();

    private Task<(ReliableGroupChannel Channel, CollectingHandler Handler, InMemoryTransport Transport)> Start(string nodeId, bool keyed) =>
        _nodes.StartWithTransportAsync(nodeId, o => o.ClusterKey = keyed ? Key : null);

    private Task AllSee(int count) => Eventually.Until(() =>
    {
        var nodes = _nodes.All;
        return nodes.All(n => n.Channel.View.Members.Count == count && n.Channel.View.Id == nodes[0].Channel.View.Id);
    }, $"one view of all {count}");

    [Test]
    public async Task ForgedMembershipTraffic_WithAndWithoutAKey_IsCountedWhileMembershipAndStreamsGoOn([Values(true, false)] bool keyed)
    {
        var a = await Start("a", keyed);
        var b = await Start("b", keyed);
        var c = await Start("c", keyed);
        await AllSee(3);
        var viewBefore = a.Channel.View.Id;
        var hostile = new HostileDatagrams(ClusterId);
        _hub.Tap = (_, _, bytes) => hostile.Observe(bytes);
        await a.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("before"));
        await Eventually.Until(() => b.Handler.CountFrom("a") == 1 && c.Handler.CountFrom("a") == 1, "traffic before the attack");
        var (am, bm, cm) = (a.Channel.LocalMember, b.Channel.LocalMember, c.Channel.LocalMember);
        var stranger = HostileDatagrams.Stranger;
        var injected = 0;
        void Inject(InMemoryTransport to, byte[] datagram)
        {
            _hub.Inject(to.LocalAddress, datagram);
            injected++;
        }

        // Views: from a stranger (admitting everyone under it, far ahead); in b's name naming a as coordinator; in
        // b's name, b first, with an id out of reach.
        Inject(a.Transport, hostile.View(stranger, viewBefore + 1000, stranger, am, bm, cm));
        Inject(c.Transport, hostile.View(bm, viewBefore + 1, am, bm, cm));
        Inject(c.Transport, hostile.View(bm, long.MaxValue - 1, bm, cm));
        // Joins with a view id out of reach; a heartbeat claiming view long.MaxValue, in b's name and from a stranger
        // that claims a coordinator older than anyone.
        Inject(a.Transport, hostile.Join(stranger, long.MaxValue));
        Inject(a.Transport, hostile.Heartbeat(bm, long.MaxValue, am));
        Inject(a.Transport, hostile.Heartbeat(stranger, long.MaxValue, stranger with { Incarnation = 1 }));
        // Leaves: in b's name for another incarnation; from a stranger.
        Inject(a.Transport, hostile.Leave(bm, bm.Incarnation + 1, viewBefore));
        Inject(a.Transport, hostile.Leave(stranger, stranger.Incarnation, viewBefore));
        // Suspicions: from a stranger, of c; in c's name, of the coordinator itself.
        Inject(a.Transport, hostile.Suspect(stranger, cm, am));
        Inject(a.Transport, hostile.Suspect(cm, am, am));
        // An ack of everything a ever sent and will send, in b's name; a NAK storm in c's name while a sends.
        Inject(a.Transport, hostile.AckOfEverything(bm, am));
        var sends = new List<Task>();
        for (var i = 0; i < 300; i++)
        {
            sends.Add(a.Channel.BroadcastAsync(Encoding.UTF8.GetBytes($"m{i}")).AsTask());
            sends.Add(a.Channel.SendAsync("b", Encoding.UTF8.GetBytes($"u{i}")).AsTask());
            if (i % 3 == 0)
                Inject(a.Transport, hostile.NakOfEverything(cm, am));
        }
        await Eventually.Within(Task.WhenAll(sends), "the sends");

        // Every stream still delivers, once and in order.
        await Eventually.Until(() => b.Handler.CountFrom("a") == 301 && c.Handler.CountFrom("a") == 301 && b.Handler.CountFrom("a", unicast: true) == 300,
            "every broadcast and unicast after the attack");
        Assert.That(c.Handler.From("a").Skip(1).Select(m => Encoding.UTF8.GetString(m.Payload)), Is.EqualTo(Enumerable.Range(0, 300).Select(i => $"m{i}")));
        Assert.That(b.Handler.From("a", unicast: true).Select(m => Encoding.UTF8.GetString(m.Payload)), Is.EqualTo(Enumerable.Range(0, 300).Select(i => $"u{i}")));
        var last = await b.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("from b"));
        await Eventually.Within(b.Channel.WaitForAcksAsync(last, 2), "b's broadcast acknowledged by both");

        // Membership still changes: a member joins with the next view id (not one pushed out of reach) and one leaves.
        var d = await Start("d", keyed);
        await AllSee(4);
        Assert.That(a.Channel.View.Id, Is.LessThan(viewBefore + 10), "view ids were not pushed up");
        Assert.That(_nodes.All.Sum(n => n.Channel.Counters.Exclusions), Is.Zero, "nobody was removed");
        await d.Channel.LeaveAsync();
        await Eventually.Until(() => _nodes.All.Take(3).All(n => n.Channel.View.Members.Count == 3), "the leave");

        // Each kind is counted.
        var (ac, cc) = (a.Channel.Counters, c.Channel.Counters);
        TestContext.Out.WriteLine($"a: {ac}\nc: {cc}");
        Assert.Multiple(() =>
        {
            if (keyed)
            {
                Assert.That(ac.RejectedForged + cc.RejectedForged, Is.EqualTo(injected), "without the key nothing is believed");
                return;
            }
            Assert.That(ac.UnknownSender, Is.GreaterThanOrEqualTo(3), "the stranger's view, leave and suspicion");
            Assert.That(cc.RejectedMembership, Is.GreaterThanOrEqualTo(2), "views in b's name that b does not coordinate, or out of reach");
            Assert.That(ac.RejectedMalformed, Is.GreaterThanOrEqualTo(1), "a join claiming a view id out of reach");
            Assert.That(ac.RejectedMembership, Is.GreaterThanOrEqualTo(3),
                "a heartbeat out of reach and a leave for another incarnation, in b's name; a suspicion of a itself, in c's name");
            Assert.That(ac.RejectedAcks, Is.EqualTo(1), "an ack of more than was sent");
            Assert.That(ac.NaksReceived, Is.GreaterThanOrEqualTo(100), "the NAK storm");
        });
    }

    /// <summary>The attack: a stranger's heartbeats, with a plausible view id, claiming a coordinator older than the
    /// real one. The coordinator only asks that group to admit it (nobody answers), dissolves nothing, and counts each.</summary>
    [Test]
    public async Task Heartbeats_FromAStrangerClaimingAnOlderCoordinator_AreCountedAndDissolveNothing()
    {
        var a = await Start("a", keyed: false);
        var b = await Start("b", keyed: false);
        await Start("c", keyed: false);
        await AllSee(3);
        var viewBefore = a.Channel.View.Id;
        var hostile = new HostileDatagrams(ClusterId);
        var older = HostileDatagrams.Stranger with { Incarnation = 1 };
        var (unknownA, unknownB) = (a.Channel.Counters.UnknownSender, b.Channel.Counters.UnknownSender);

        const int heartbeats = 20;
        for (var i = 0; i < heartbeats; i++)
        {
            _hub.Inject(a.Transport.LocalAddress, hostile.Heartbeat(older, viewBefore + 1, older));
            _hub.Inject(b.Transport.LocalAddress, hostile.Heartbeat(older, viewBefore + 1, older));
        }

        await Eventually.Until(() => a.Channel.Counters.UnknownSender - unknownA >= heartbeats && b.Channel.Counters.UnknownSender - unknownB >= heartbeats,
            "every forged heartbeat counted (UnknownSender)");
        var last = await a.Channel.BroadcastAsync(new byte[1]);
        await Eventually.Within(a.Channel.WaitForAcksAsync(last, 2), "a's broadcast acknowledged by b and c");
        Assert.That(a.Channel.View.Id, Is.EqualTo(viewBefore), "no view change");
        Assert.That(_nodes.All.Sum(n => n.Channel.Counters.Exclusions), Is.Zero, "nobody left the group");
        await Start("d", keyed: false);
        await AllSee(4);
    }

    /// <summary>A Leave names the view its sender left from: a copy from before the view that admitted it (delayed from an
    /// earlier membership of the same incarnation) or with an implausible view id removes nothing.</summary>
    [Test]
    public async Task Leave_InAMembersNameForAnEarlierOrImplausibleView_RemovesNobody([Values("earlier", "implausible")] string epoch)
    {
        var a = await Start("a", keyed: false);
        var b = await Start("b", keyed: false);
        await Start("c", keyed: false);
        await AllSee(3);
        var viewBefore = a.Channel.View.Id;
        var admittedB = a.Handler.Views.First(v => v.Contains("b")).Id;
        var hostile = new HostileDatagrams(ClusterId);
        _hub.Tap = (_, _, bytes) => hostile.Observe(bytes);
        await b.Channel.BroadcastAsync(new byte[1]);
        await Eventually.Until(() => a.Handler.CountFrom("b") == 1 && hostile.HasSeen(b.Channel.LocalMember), "traffic from b");
        var rejected = a.Channel.Counters.RejectedMembership;

        var bm = b.Channel.LocalMember;
        _hub.Inject(a.Transport.LocalAddress, hostile.Leave(bm, bm.Incarnation, epoch == "earlier" ? admittedB - 1 : long.MaxValue));

        await Eventually.Until(() => a.Channel.Counters.RejectedMembership > rejected || a.Channel.View.Id != viewBefore, "the leave handled");
        Assert.That(a.Channel.View.Id, Is.EqualTo(viewBefore), "no view change");
        Assert.That(a.Channel.Counters.RejectedMembership, Is.EqualTo(rejected + 1));
        var last = await a.Channel.BroadcastAsync(new byte[1]);
        await Eventually.Within(a.Channel.WaitForAcksAsync(last, 2), "a's broadcast acknowledged by b and c");
        Assert.That(a.Channel.View.Members.Select(m => m.NodeId), Is.EqualTo(new[] { "a", "b", "c" }));
        Assert.That(_nodes.All.Sum(n => n.Channel.Counters.Exclusions), Is.Zero, "nobody was removed");
    }

    [Test]
    public async Task Heartbeat_WithTheLargestViewIdFromAMember_DoesNotFreezeMembership()
    {
        var a = await Start("a", keyed: false);
        var b = await Start("b", keyed: false);
        await AllSee(2);
        var hostile = new HostileDatagrams(ClusterId);
        _hub.Tap = (_, _, bytes) => hostile.Observe(bytes);
        await a.Channel.BroadcastAsync(new byte[1]);
        await Eventually.Until(() => b.Handler.Count == 1, "traffic");

        _hub.Inject(a.Transport.LocalAddress, hostile.Heartbeat(b.Channel.LocalMember, long.MaxValue, a.Channel.LocalMember));
        _hub.Inject(a.Transport.LocalAddress, hostile.Heartbeat(HostileDatagrams.Stranger, long.MaxValue, a.Channel.LocalMember));
        var c = await Start("c", keyed: false);

        await AllSee(3);
        Assert.That(c.Channel.View.Id, Is.LessThan(ViewCodec.MaxViewId));
        Assert.That(a.Channel.Counters.RejectedMembership, Is.GreaterThanOrEqualTo(1));
    }
}
