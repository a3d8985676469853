using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

/// <summary>
/// A node rejoining (a graceful rolling restart, N9) costs the others no stall: they decide the view without waiting for
/// the joiner's state, and the sessions keep the arbiter they had until the joiner has caught up. Each test holds back the
/// joiner's part (its state, or the end of its transfer) for good, so a request that would wait for it never completes
/// (it would answer 503 after the lock wait timeout).
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class StoreJoinTests(bool ring) : LossyStoreTestBase(ring)
{
    private static void LongWaits(ClusterStoreOptions o) => o.LockWaitTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Three nodes with one session owned by each; the third leaves gracefully and the two others go on.</summary>
    /// <summary>node3 starts again; every "done" of its transfer is dropped until <c>release</c> is called, so it stays
    /// catching up. Returns once the others decided the view with node3.</summary>
    private async Task<(Task<TestNode> Joining, Action Release)> RejoinWithTransferHeldAsync(TestNode[] survivors)
    {
        var decided = survivors.Select(n => ((ArbitratedClusterStore)n.Store).Counters.Reconciliations).ToArray();
        var held = 1;
        foreach (var node in survivors)
        {
            ChannelOf[node.Id].UnicastFilter = (to, e) => to == "node3" && e.ReconcileDone is not null && Volatile.Read(ref held) == 1;
            ChannelOf[node.Id].DropUnicasts(int.MaxValue);
        }
        var joining = StartNodeAsync("node3", LongWaits);
        await Eventually.Until(() => survivors.Select((n, i) => ViewOf(n).Members.Count == 3 && ((ArbitratedClusterStore)n.Store).Counters.Reconciliations > decided[i]).All(x => x),
            "the others decided the view with node3", () => DescribeNodes(survivors));
        return (joining, () => Volatile.Write(ref held, 0));
    }

    private async Task<(TestNode[] Survivors, string[] Ids)> ThirdNodeLeftAsync()
    {
        var nodes = await StartClusterAsync(3, LongWaits);
        var ids = new string[3];
        for (var i = 0; i < 3; i++)
            ids[i] = await CreateWithAsync(nodes[i], s => s.SetInt32("count", 1));
        await nodes[2].Manager.StopAsync();
        var survivors = nodes[..2];
        await Eventually.Until(() => survivors.All(n => ViewOf(n).Members.Count == 2 && n.Store.Status == ClusterStoreStatus.Ready), "node3 gone", () => DescribeNodes(survivors));
        return (survivors, ids);
    }

    [Test]
    public async Task Join_WhileTheJoinersPrimaryStateNeverArrives_TheOthersDecideAndServeWithoutIt()
    {
        var (survivors, ids) = await ThirdNodeLeftAsync();
        var decided = survivors.Select(n => ((ArbitratedClusterStore)n.Store).Counters.Reconciliations).ToArray();

        // A cold joiner whose state for the view the others never hear (a slow first send, lost): it changes nothing, as
        // it took part in nothing the others do not know of. (Its state for the hand-off round, once it has caught up, goes.)
        ConfigureNext = c =>
        {
            c.BroadcastFilter = e => e.PrimaryState is { Round: 0 };
            c.UnicastFilter = (_, e) => e.PrimaryState is { Round: 0 };
            c.DropUnicasts(int.MaxValue);
        };
        var joining = StartNodeAsync("node3", LongWaits);
        await Eventually.Until(() => survivors.Select((n, i) => ViewOf(n).Members.Count == 3 && ((ArbitratedClusterStore)n.Store).Counters.Reconciliations > decided[i]).All(x => x),
            "the others decided the view with node3", () => DescribeNodes(survivors));

        foreach (var node in survivors)
        {
            foreach (var id in ids)
                await Eventually.Within(IncrementAsync(node, id), $"an increment on {node.Id} while node3's state is missing");
        }
        Assert.That(ChannelOf["node3"].Dropped, Is.GreaterThan(0), "node3's state was lost");

        var joiner = await Eventually.Within(joining, "node3 catches up from the others' states");
        var nodes = survivors.Append(joiner).ToArray();
        await Eventually.Until(() => nodes.All(n => n.Store.Status == ClusterStoreStatus.Ready), "3 ready members", () => DescribeNodes(nodes));
        foreach (var id in ids)
        {
            Assert.That(await IncrementAsync(joiner, id), Is.EqualTo(4));
            await HeldEverywhereAsync(nodes, id, 4, "every holder holds the last increment");
        }
    }

    [Test]
    public async Task Join_WhileTheJoinerCatchesUp_ItsSessionsAreServedByTheirPreviousArbiter()
    {
        var (survivors, ids) = await ThirdNodeLeftAsync();
        SessionIds.TryParseOwner(ids[2], out var owner);
        var arbiterBefore = ViewOf(survivors[0]).ActingOwner(owner)!.NodeId;
        // node3 never hears that its transfer is done: it stays catching up (Joining) until the test lets it go.
        var (joining, release) = await RejoinWithTransferHeldAsync(survivors);
        await Eventually.Until(() => survivors.All(n => ChannelOf[n.Id].Dropped > 0), "node3's transfer is held");

        // node3's own session (and every other) is served by whoever arbitrated it before node3 came back.
        var count = 1;
        foreach (var node in survivors)
            Assert.That(await Eventually.Within(IncrementAsync(node, ids[2]), $"an increment of node3's session on {node.Id} while node3 catches up"), Is.EqualTo(++count));
        Assert.That(ViewOf(survivors[0]).ActingOwner(owner)!.NodeId, Is.EqualTo(arbiterBefore));
        Assert.That(joining.IsCompleted, Is.False, "node3 is still catching up");

        release();
        var joiner = await Eventually.Within(joining, "node3 catches up once its transfer is let through");
        var nodes = survivors.Append(joiner).ToArray();
        await Eventually.Until(() => nodes.All(n => n.Store.Status == ClusterStoreStatus.Ready), "3 ready members", () => DescribeNodes(nodes));
        Assert.That(await IncrementAsync(joiner, ids[2]), Is.EqualTo(++count));
        await HeldEverywhereAsync(nodes, ids[2], count, "every holder holds the last increment");
    }

    [Test]
    public async Task Join_OnceTheJoinerHasCaughtUp_ItsSessionsAreHandedBackWithTheirLock()
    {
        var (survivors, ids) = await ThirdNodeLeftAsync();
        SessionIds.TryParseOwner(ids[2], out var owner);
        var arbiter = survivors.Single(n => n.Id == ViewOf(survivors[0]).ActingOwner(owner)!.NodeId);
        var (joining, release) = await RejoinWithTransferHeldAsync(survivors);

        // While node3 catches up, its session's arbiter grants a lock; then node3 is let through, and its session goes back
        // to it: node3 takes the lock over before it grants any, so the second request waits for the first.
        var first = await arbiter.Manager.BeginRequestAsync(ids[2], SessionAccess.Exclusive) ?? throw new AssertionException("the session");
        first.SetInt32("count", 2);
        release();
        var joiner = await Eventually.Within(joining, "node3 catches up");
        var nodes = survivors.Append(joiner).ToArray();
        await Eventually.Until(() => nodes.All(n => ViewOf(n).ActingOwner(owner)!.NodeId == "node3" && n.Store.Status == ClusterStoreStatus.Ready),
            "node3 arbitrates its session again", () => DescribeNodes(nodes));
        var second = IncrementAsync(joiner, ids[2]);
        await arbiter.Manager.EndRequestAsync(first);

        Assert.That(await Eventually.Within(second, "the second request, after the first"), Is.EqualTo(3));
        await HeldEverywhereAsync(nodes, ids[2], 3, "every holder holds both writes");
    }
}
