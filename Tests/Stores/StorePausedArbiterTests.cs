using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

/// <summary>
/// N11 (docs/faults.md) in memory: the arbiter of a session is paused past the suspect timeout (its timers frozen,
/// nothing in or out, as under SIGSTOP), the others remove it and go on, it resumes, learns it was excluded, rejoins
/// with the same incarnation and catches up. Against real processes the channel could then lose one store message of
/// the rejoined member (N12); when that was the acknowledgement of the arbiter's first commit, the commit waited for
/// good: the session's next commit from another node answered 500 in doubt after 20 s and the copies stayed different
/// (<c>node1=10, node2=11, node3=11</c>). Here that one acknowledgement is lost on purpose.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class StorePausedArbiterTests(bool ring) : LossyStoreTestBase(ring)
{
    /// <summary>The channel runs on the node's clock too: a pause freezes both.</summary>
    protected override bool ChannelOnNodeClock => true;

    protected override GroupChannelOptions ChannelOptions(string nodeId)
    {
        var options = base.ChannelOptions(nodeId);
        options.SuspectTimeout = TimeSpan.FromMilliseconds(1500); // the others remove the paused node in a test-sized time
        return options;
    }

    /// <summary>A commit timeout far longer than the test: only sending the update again can complete the commit.</summary>
    private static void Configure(ClusterStoreOptions options) => options.CommitTimeout = TimeSpan.FromSeconds(8);

    [Test]
    public async Task Arbiter_ResumedAndRejoined_WhenItsFirstCommitsAcknowledgementIsLost_CommitsAndTheSessionGoesOn()
    {
        var clock = new FreezableTimeProvider();
        var paused = await StartNodeAsync("node1", Configure, clock); // the coordinator, as in the real-process test
        TestNode[] others = [await StartNodeAsync("node2", Configure), await StartNodeAsync("node3", Configure)];
        TestNode[] nodes = [paused, .. others];
        await Eventually.Until(() => nodes.All(n => ViewOf(n).Members.Count == 3 && n.Store.Status == ClusterStoreStatus.Ready), "3 ready members", () => DescribeNodes(nodes));
        var store = (ArbitratedClusterStore)paused.Store;
        var id = await CreateWithAsync(paused, s => s.SetInt32("count", 1)); // node1 arbitrates it
        await HeldEverywhereAsync(nodes, id, 1, "the session on its holders");
        var viewBefore = ViewOf(paused).Id;

        // SIGSTOP for longer than the suspect timeout: the others remove node1 and commit without it.
        clock.Freeze();
        Hub.Pause(Transports[0].LocalAddress);
        await Eventually.Until(() => others.All(n => ViewOf(n).Members.Count == 2 && n.Store.IsReady()), "the others remove node1 and go on", () => DescribeNodes(others));
        Assert.That(await IncrementAsync(others[0], id), Is.EqualTo(2), "acknowledged while node1 is away");

        // SIGCONT: node1 hears that it was removed, rejoins and catches up, and arbitrates its session again.
        Hub.Resume(Transports[0].LocalAddress);
        clock.Thaw();
        await Eventually.Until(() => nodes.All(n => ViewOf(n).Members.Count == 3 && n.Store.Status == ClusterStoreStatus.Ready) && ViewOf(paused).Id > viewBefore + 1,
            "node1 back in a 3-member view, every node ready", () => DescribeNodes(nodes));
        Assert.That(ReplicationStrategy.ArbiterOf(id, ViewOf(paused))?.NodeId, Is.EqualTo("node1"));

        // The first acknowledgement of node1's next commit is lost (N12: the rejoined member's stream).
        var resends = store.Counters.CommitResends;
        for (var i = 1; i < nodes.Length; i++)
        {
            Channels[i].UnicastFilter = (to, e) => to == "node1" && e.ReplicateAck is { Status: ReplicateStatus.Applied };
            Channels[i].DropUnicasts(1);
        }
        var own = await Eventually.Within(IncrementAsync(paused, id), "node1's commit whose acknowledgement was lost");
        var next = await Eventually.Within(IncrementAsync(others[0], id), "the session's next commit, from node2");

        Assert.Multiple(() =>
        {
            Assert.That(Channels.Sum(c => c.Dropped), Is.GreaterThan(0), "an acknowledgement was lost");
            Assert.That(store.Counters.CommitResends, Is.GreaterThan(resends), "node1 sent the update again");
            Assert.That((own, next), Is.EqualTo((3, 4)));
            Assert.That(store.Counters.InDoubt, Is.Zero, "no commit in doubt");
        });
        await HeldEverywhereAsync(nodes, id, 4, "every holder holds the last commit");
        Assert.That(HoldersOf(nodes, id).Select(n => n.Manager.Table.Get(id)?.Version), Is.All.EqualTo(4), "the copies agree");
    }
}
