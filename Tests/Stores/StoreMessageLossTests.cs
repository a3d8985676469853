using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

/// <summary>
/// One store message lost on the way (a channel bug or a datagram the channel never repaired, issue 10 N12): the store
/// must not wait for it for good. Each test loses exactly the message it names, on the in-memory network.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class StoreMessageLossTests(bool ring) : LossyStoreTestBase(ring)
{
    [Test]
    public async Task Commit_WhenEveryReplicasAcknowledgementIsLost_CompletesOnceTheUpdateIsSentAgain()
    {
        // Far longer than the test: only sending the update again lets the commit complete.
        var nodes = await StartClusterAsync(3, o => o.CommitTimeout = TimeSpan.FromSeconds(8));
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 1));
        SessionIds.TryParseOwner(id, out var owner);
        var arbiter = ViewOf(nodes[0]).ActingOwner(owner)!.NodeId;
        var arbiterStore = (ArbitratedClusterStore)nodes.First(n => n.Id == arbiter).Store;
        // Every acknowledgement is lost until the arbiter sends the update again (a late one of the create included):
        // the commit can complete only through that resend.
        for (var i = 0; i < nodes.Length; i++)
        {
            if (nodes[i].Id == arbiter)
                continue;
            Channels[i].UnicastFilter = (_, e) => e.ReplicateAck is { Status: ReplicateStatus.Applied } && arbiterStore.Counters.CommitResends == 0;
            Channels[i].DropUnicasts(int.MaxValue);
        }

        var count = await Eventually.Within(IncrementAsync(nodes[0], id), "the commit whose acknowledgements were lost");

        Assert.That(count, Is.EqualTo(2));
        Assert.That(Channels.Sum(c => c.Dropped), Is.GreaterThan(0), "an acknowledgement was lost");
        Assert.That(arbiterStore.Counters.CommitResends, Is.GreaterThan(0));
        await HeldEverywhereAsync(nodes, id, 2, "every holder holds the commit");
    }

    [Test]
    public async Task Join_WhenTheJoinersPrimaryStateAndReadyBroadcastsAreLost_TheViewIsDecidedAndTheJoinerCountedReady()
    {
        var nodes = await StartClusterAsync(2);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 1));

        // The third node's broadcasts of its primary state and its "ready" never arrive (as when the broadcast stream between
        // two members broke): the others ask it by unicast, and it announces "ready" to each of them.
        ConfigureNext = c => c.BroadcastFilter = e => e.PrimaryState is not null || e.MemberReady is not null;
        var joiner = await Eventually.Within(StartNodeAsync("node3"), "the joiner is ready (its start waits for it)");
        nodes = [.. nodes, joiner];

        await Eventually.Until(() => nodes.All(n => ViewOf(n).Members.Count == 3 && n.Store.Status == ClusterStoreStatus.Ready), "3 ready members", () => DescribeNodes(nodes));
        Assert.That(Channels[2].Dropped, Is.GreaterThan(0), "the joiner's broadcasts were lost");
        Assert.That(await IncrementAsync(joiner, id), Is.EqualTo(2));
    }

    /// <summary>The messages of a reconciliation after a view change, each of which may be the one lost.</summary>
    public enum ReconciliationMessage
    {
        /// <summary>A member's digest (a chunk of it) to an arbiter.</summary>
        Digest,
        /// <summary>An arbiter's chunk of whole copies to a holder that lacks them.</summary>
        Push,
        /// <summary>An arbiter's "everything you must hold of mine has been sent".</summary>
        ReconcileDone,
        /// <summary>A caught-up member's "my acknowledgements count now".</summary>
        MemberReady,
    }

    [Test]
    public async Task Join_WhenOneReconciliationMessageIsLost_TheJoinerCatchesUpAndEveryNodeIsReady([Values] ReconciliationMessage lost)
    {
        // Every other member must acknowledge, so a member never counted ready shows as Degraded on both stores. (A rejoin
        // fetches nothing any more: the joiner is pushed its copies while its sessions stay with their arbiter, N9.)
        void Configure(ClusterStoreOptions o) => o.ReplicationAcks = 2;
        var nodes = await StartClusterAsync(3, Configure);
        // One session owned by each node: all are pushed to node3 when it comes back (ring: its own, and those of the node
        // before it in ring order, which it backs up), and its own is handed back to it once it has caught up.
        var ids = new List<string>();
        foreach (var node in nodes)
            ids.Add(await CreateWithAsync(node, s => s.SetInt32("count", 1)));
        await nodes[2].Manager.StopAsync();
        await Eventually.Until(() => nodes[..2].All(n => ViewOf(n).Members.Count == 2 && n.Store.Status == ClusterStoreStatus.Ready), "node3 gone", () => DescribeNodes(nodes[..2]));
        foreach (var id in ids)
            Assert.That(await IncrementAsync(nodes[0], id), Is.EqualTo(2));

        // The first message of that kind any node sends from now on is lost (a "done", the first one to node3: the others
        // do not wait for theirs); every later one goes through.
        var dropped = 0;
        Func<string, Envelope, bool> matches = lost switch
        {
            ReconciliationMessage.Digest => (_, e) => e.Digest is not null,
            ReconciliationMessage.Push => (_, e) => e.Replicate is { Copies.Count: > 0 },
            ReconciliationMessage.ReconcileDone => (to, e) => e.ReconcileDone is not null && to == "node3",
            _ => (_, e) => e.MemberReady is not null,
        };
        bool LoseOne(string to, Envelope e) => matches(to, e) && Interlocked.Exchange(ref dropped, 1) == 0;
        foreach (var channel in Channels)
        {
            channel.UnicastFilter = LoseOne;
            channel.DropUnicasts(int.MaxValue);
        }
        ConfigureNext = c =>
        {
            c.UnicastFilter = LoseOne;
            c.DropUnicasts(int.MaxValue);
        };
        var back = await Eventually.Within(StartNodeAsync("node3", Configure), "node3 back and caught up (its start waits for it)");
        nodes = [nodes[0], nodes[1], back];

        await Eventually.Until(() => nodes.All(n => ViewOf(n).Members.Count == 3 && n.Store.Status == ClusterStoreStatus.Ready), "3 ready members", () => DescribeNodes(nodes));
        Assert.That(Volatile.Read(ref dropped), Is.EqualTo(1), $"one {lost} was lost");
        // A lost "ready" needs no resend when the joiner's hand-off round reaches the member first: it begins the round too.
        if (lost != ReconciliationMessage.MemberReady)
            Assert.That(nodes.Sum(n => ((ArbitratedClusterStore)n.Store).Counters.ReconcileResends), Is.GreaterThan(0), "a reconciliation message went again");
        foreach (var id in ids)
            await HeldEverywhereAsync(nodes, id, 2, $"every holder of {id} holds its increment");
        Assert.That(await IncrementAsync(back, ids[2]), Is.EqualTo(3));
    }
}
