using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Transport;

namespace Multicast.Tests.Stores;

/// <summary>
/// The guarantees every <see cref="IClusterStore"/> gives, over any transport. Subclasses say how a node's
/// transport (and, for other stores, the store) is made; the cases stay the same.
/// </summary>
public abstract class ClusterStoreContractTests : StoreTestBase
{
    [Test]
    public async Task Create_OnOneNode_IsReadOnTheOthers()
    {
        var nodes = await StartClusterAsync(3);
        var id = await CreateWithAsync(nodes[0], s => s.SetString("name", "ada"));

        await HeldEverywhereAsync(nodes, id, 1, "session on every node that holds it");
        foreach (var other in nodes.Skip(1))
        {
            var read = await other.Manager.BeginRequestAsync(id, SessionAccess.ReadOnly);
            Assert.That(read?.GetString("name"), Is.EqualTo("ada"), other.Id);
        }
    }

    [Test]
    public async Task ExclusiveIncrements_FromTwoNodesConcurrently_AllSurvive()
    {
        var nodes = await StartClusterAsync(3);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 0));
        await HeldEverywhereAsync(nodes, id, 1, "session everywhere");
        const int each = 40;

        async Task Hammer(TestNode node)
        {
            for (var i = 0; i < each; i++)
                await IncrementAsync(node, id);
        }
        await Task.WhenAll(Hammer(nodes[1]), Hammer(nodes[2]), Hammer(nodes[0]));

        await HeldEverywhereAsync(nodes, id, 1 + 3 * each, "all increments on every node that holds the session");
        foreach (var node in nodes)
            Assert.That(await ReadCountAsync(node, id), Is.EqualTo(3 * each), node.Id);
    }

    [Test]
    public async Task Holder_LeavingTheView_FreesTheLockAtOnce()
    {
        // A lease far longer than the test: only the view change can free the lock.
        var nodes = await StartClusterAsync(3, o => o.LockLease = TimeSpan.FromMinutes(10));
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 1));
        await HeldEverywhereAsync(nodes, id, 1, "session on every node that holds it");
        var held = await nodes[1].Manager.BeginRequestAsync(id, SessionAccess.Exclusive);
        Assert.That(held, Is.Not.Null);

        await nodes[1].Manager.StopAsync();

        var session = await nodes[2].Manager.BeginRequestAsync(id, SessionAccess.Exclusive);
        Assert.That(session?.GetInt32("count"), Is.EqualTo(1));
        await nodes[2].Manager.EndRequestAsync(session!);
    }

    [Test]
    public async Task Commit_UnderAStaleFencingToken_IsRefused()
    {
        var time = new ManualTimeProvider();
        var nodes = await StartClusterAsync(3, o =>
        {
            o.LockLease = TimeSpan.FromSeconds(30);
            o.ConflictPolicy = LockConflictPolicy.Fail;
        }, time);
        // A request may be retried (an arbiter that has not expired a lease or settled its view yet answers "ask again",
        // a commit before the first epoch is reconciled is refused), and its backoff runs on this clock: the clock moves
        // while one waits, never past the fresh lock's 30 s lease.
        var step = TimeSpan.FromMilliseconds(20);
        var limit = TimeSpan.FromSeconds(10);
        var id = await time.AdvanceWhilePending(CreateWithAsync(nodes[0], s => s.SetInt32("count", 1)), step, limit);
        await HeldEverywhereAsync(nodes, id, 1, "session everywhere");

        var stale = await time.AdvanceWhilePending(nodes[1].Manager.BeginRequestAsync(id, SessionAccess.Exclusive), step, limit)
            ?? throw new AssertionException("not found");
        time.Advance(TimeSpan.FromSeconds(31));
        var fresh = await time.AdvanceWhilePending(nodes[2].Manager.BeginRequestAsync(id, SessionAccess.Exclusive), step, limit)
            ?? throw new AssertionException("not found");
        fresh.SetInt32("count", 20);
        await time.AdvanceWhilePending(nodes[2].Manager.EndRequestAsync(fresh), step, limit);

        stale.SetInt32("count", 10);
        var refused = Assert.ThrowsAsync<LockLostException>(() => time.AdvanceWhilePending(nodes[1].Manager.EndRequestAsync(stale), step, limit));
        Assert.That(refused!.SessionId, Is.EqualTo(id));
        await HeldEverywhereAsync(nodes, id, 2, "fresh commit everywhere");
        foreach (var node in nodes)
            Assert.That(await ReadCountAsync(node, id), Is.EqualTo(20), node.Id);
    }

    [Test]
    public async Task LateJoiner_ReceivesEverySession_BeforeItIsReady()
    {
        var nodes = await StartClusterAsync(2);
        var ids = new List<string>();
        for (var i = 0; i < 150; i++)
            ids.Add(await CreateWithAsync(nodes[i % 2], s => s.SetInt32("count", ids.Count)));

        var late = await StartNodeAsync("node3");

        Assert.That(late.Store.IsReady(), Is.True);
        for (var i = 0; i < ids.Count; i++)
            Assert.That(await ReadCountAsync(late, ids[i]), Is.EqualTo(i), ids[i]);
    }

    [Test]
    public async Task Expiry_DecidedByTheOwner_ReachesEveryNode()
    {
        var time = new ManualTimeProvider();
        var nodes = await StartClusterAsync(3, time: time, session: s =>
        {
            s.IdleTimeout = TimeSpan.FromMinutes(1);
            s.SweepInterval = TimeSpan.FromHours(1); // the test sweeps by hand
        });
        var expiredOn = new System.Collections.Concurrent.ConcurrentBag<string>();
        foreach (var n in nodes)
            n.Manager.Expired += (_, e) => expiredOn.Add(n.Id);
        // A create before the first epoch is reconciled is refused and retried after a pause on this clock: move it while
        // the create waits, well short of the idle timeout.
        var id = await time.AdvanceWhilePending(CreateWithAsync(nodes[0], s => s.SetString("k", "v")), TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(10));
        await HeldEverywhereAsync(nodes, id, 1, "session everywhere");
        var holders = HoldersOf(nodes, id).Length;

        time.Advance(TimeSpan.FromMinutes(2));
        Assert.That(await nodes[1].Manager.SweepAsync(), Is.Zero, "only the owner expires");
        // The owner expires it once nothing of it is in flight there (the create's commit may still be counting acks when
        // every copy is in place: a session is never expired under a commit). Its sweep completes at once.
        var swept = 0;
        await Eventually.Until(() => (swept += nodes[0].Manager.SweepAsync().GetAwaiter().GetResult()) == 1, "the owner expires it, once");

        await Eventually.Until(() => nodes.All(n => !n.Manager.Table.Contains(id)), "expired everywhere");
        // A lock request may be retried (an "ask again" answer) and its backoff runs on this clock: move it meanwhile.
        Assert.That(await time.AdvanceWhilePending(nodes[2].Manager.BeginRequestAsync(id, SessionAccess.Exclusive), TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(10)), Is.Null);
        await Eventually.Until(() => expiredOn.Distinct().Count() == holders, "expired event on every node that held it");
    }

    [Test]
    public async Task Commit_WithOneReplicationAck_IsOnAnotherNodeWhenItReturns([Values(0, 1)] int committer)
    {
        var nodes = await StartClusterAsync(3, o => o.ReplicationAcks = 1);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 0));
        await HeldEverywhereAsync(nodes, id, 1, "session everywhere");

        for (var i = 0; i < 20; i++)
        {
            await IncrementAsync(nodes[committer], id);
            var version = 2L + i;
            var others = nodes.Where(n => n != nodes[committer]).Count(n => Holds(n, id, version));
            Assert.That(others, Is.GreaterThanOrEqualTo(1), $"commit {i} held by another node when it returned");
        }
    }

    [Test]
    public async Task ReadOnly_OnAnyNode_SeesTheCommitThatJustReturned()
    {
        // One ack completes a commit, so without the read barrier (ReadConsistency.Local) a third node may not have it yet.
        var nodes = await StartClusterAsync(3, o => o.ReplicationAcks = 1);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 0));

        for (var i = 1; i <= 30; i++)
        {
            Assert.That(await IncrementAsync(nodes[i % 3], id), Is.EqualTo(i));
            foreach (var reader in nodes)
                Assert.That(await ReadCountAsync(reader, id), Is.EqualTo(i), $"read on {reader.Id} after commit {i}");
        }
    }

    [Test]
    public async Task LockingNone_ConcurrentWritesToDifferentAttributes_BothSurvive()
    {
        var nodes = await StartClusterAsync(3, o => o.Locking = LockingMode.None);
        var id = await CreateWithAsync(nodes[0], s => s.SetString("base", "x"));
        var first = await nodes[1].Manager.BeginRequestAsync(id, SessionAccess.Exclusive) ?? throw new AssertionException("not found on node2");
        var second = await nodes[2].Manager.BeginRequestAsync(id, SessionAccess.Exclusive) ?? throw new AssertionException("not found on node3");

        // Both loaded the same version and neither waited for the other: no lock is taken.
        first.SetString("a", "1");
        second.SetString("b", "2");
        second.SetString("base", "y");
        await Task.WhenAll(nodes[1].Manager.EndRequestAsync(first), nodes[2].Manager.EndRequestAsync(second));

        foreach (var node in nodes)
        {
            var read = await node.Manager.BeginRequestAsync(id, SessionAccess.ReadOnly);
            Assert.That(read?.GetString("a"), Is.EqualTo("1"), node.Id);
            Assert.That(read?.GetString("b"), Is.EqualTo("2"), node.Id);
            Assert.That(read?.GetString("base"), Is.EqualTo("y"), node.Id);
        }
    }

    [Test]
    public async Task Session_LargerThanTheMaximum_IsRefusedAndNothingIsLost()
    {
        var nodes = await StartClusterAsync(2, session: s => s.MaxSessionBytes = 4096);
        var id = await CreateWithAsync(nodes[0], s => s.SetString("keep", "me"));
        await HeldEverywhereAsync(nodes, id, 1, "session on every node that holds it");

        var session = await nodes[1].Manager.BeginRequestAsync(id, SessionAccess.Exclusive) ?? throw new AssertionException("not found");
        session.Set("big", new byte[8192]);
        var refused = Assert.ThrowsAsync<SessionTooLargeException>(() => nodes[1].Manager.EndRequestAsync(session));
        Assert.That(refused!.Limit, Is.EqualTo(4096));

        // The lock was released and the stored session is as it was.
        var again = await nodes[0].Manager.BeginRequestAsync(id, SessionAccess.Exclusive);
        Assert.That(again?.GetString("keep"), Is.EqualTo("me"));
        Assert.That(again!.TryGetValue("big", out _), Is.False);
        await nodes[0].Manager.EndRequestAsync(again);
    }

    [Test]
    public async Task HeldLock_WithFailOrRedirect_NamesTheHolder([Values(LockConflictPolicy.Fail, LockConflictPolicy.Redirect)] LockConflictPolicy policy)
    {
        var nodes = await StartClusterAsync(3, o => o.ConflictPolicy = policy);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 0));
        await HeldEverywhereAsync(nodes, id, 1, "session everywhere");
        var held = await nodes[1].Manager.BeginRequestAsync(id, SessionAccess.Exclusive);

        var conflict = Assert.ThrowsAsync<SessionLockedException>(() => nodes[2].Manager.BeginRequestAsync(id, SessionAccess.Exclusive));

        Assert.That(conflict!.Holder, Is.EqualTo("node2"));
        Assert.That(conflict.Policy, Is.EqualTo(policy));
        await nodes[1].Manager.EndRequestAsync(held!);
    }

    [Test]
    public async Task ReadOnly_IsNotBlockedByAnExclusiveHolder()
    {
        var nodes = await StartClusterAsync(2);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 7));
        await HeldEverywhereAsync(nodes, id, 1, "session on every node that holds it");
        var held = await nodes[0].Manager.BeginRequestAsync(id, SessionAccess.Exclusive);

        var read = await nodes[1].Manager.BeginRequestAsync(id, SessionAccess.ReadOnly);

        Assert.That(read?.GetInt32("count"), Is.EqualTo(7));
        Assert.Throws<InvalidOperationException>(() => read!.SetInt32("count", 8));
        await nodes[0].Manager.EndRequestAsync(held!);
    }

    [Test]
    public async Task Invalidate_RemovesTheSessionEverywhere()
    {
        var nodes = await StartClusterAsync(3);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 3));
        await HeldEverywhereAsync(nodes, id, 1, "session everywhere");

        var session = await nodes[2].Manager.BeginRequestAsync(id, SessionAccess.Exclusive);
        await nodes[2].Manager.InvalidateAsync(session!);

        await Eventually.Until(() => nodes.All(n => !n.Manager.Table.Contains(id)), "removed everywhere");
        Assert.That(await nodes[1].Manager.BeginRequestAsync(id, SessionAccess.Exclusive), Is.Null);
    }

    [Test]
    public async Task WaitPolicy_IsWokenByTheRelease()
    {
        var nodes = await StartClusterAsync(2, o => o.ConflictPolicy = LockConflictPolicy.Wait);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 0));
        await HeldEverywhereAsync(nodes, id, 1, "session on every node that holds it");
        var held = await nodes[0].Manager.BeginRequestAsync(id, SessionAccess.Exclusive);

        var waiting = IncrementAsync(nodes[1], id);
        Assert.That(waiting.IsCompleted, Is.False);
        held!.SetInt32("count", 5);
        await nodes[0].Manager.EndRequestAsync(held!);

        Assert.That(await waiting, Is.EqualTo(6));
    }
}
