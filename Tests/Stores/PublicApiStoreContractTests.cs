using System.Reflection;
using System.Runtime.CompilerServices;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.PublicStore;
using Multicast.Tests.TestSupport;

namespace Multicast.Tests.Stores;

/// <summary>
/// The proof that the cluster store contract is pluggable: the whole contract suite over
/// <see cref="ServerClusterStore"/>, a store written in its own assembly with Core's public API only, whose nodes share
/// one in-process <see cref="SessionServer"/> (the stand-in for Redis or a database). Then what only a server-backed
/// store shows: an unreachable server means "not applied".
/// </summary>
[TestFixture]
public sealed class PublicApiStoreContractTests : ClusterStoreContractTests
{
    private SessionServer? _server;

    protected override IClusterStore CreateNodeStore(int index, ClusterStoreOptions options, TimeProvider time) =>
        new ServerClusterStore(_server ??= new SessionServer(time), options, time, StoreLog(options)); // the test's clock is the server's

    protected override ValueTask CleanUpAsync()
    {
        _server?.Dispose();
        _server = null;
        return ValueTask.CompletedTask;
    }

    [Test]
    public void StoreAssembly_IsNotAFriendOfCore_SoItSeesThePublicApiOnly()
    {
        var friends = typeof(IClusterStore).Assembly.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName);
        var sut = typeof(ServerClusterStore).Assembly.GetName().Name;

        Assert.That(friends, Does.Not.Contain(sut));
        Assert.That(typeof(ServerClusterStore).Assembly, Is.Not.SameAs(typeof(PublicApiStoreContractTests).Assembly));
    }

    [Test]
    public async Task Commit_WhileTheServerIsUnreachable_IsRefusedAsNotAppliedAndARetryAfterTheLeaseSucceeds()
    {
        var time = new ManualTimeProvider();
        var nodes = await StartClusterAsync(2, o => o.LockLease = TimeSpan.FromSeconds(30), time);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 1));
        var session = await nodes[1].Manager.BeginRequestAsync(id, SessionAccess.Exclusive) ?? throw new AssertionException("not found");
        session.SetInt32("count", 2);

        _server!.IsAvailable = false;
        var refused = Assert.ThrowsAsync<ClusterUnavailableException>(() => nodes[1].Manager.EndRequestAsync(session));
        var status = nodes[1].Store.Status;
        _server.IsAvailable = true;

        Assert.That(refused!.Status, Is.EqualTo(ClusterStoreStatus.NoQuorum));
        Assert.That(status, Is.EqualTo(ClusterStoreStatus.NoQuorum));
        Assert.That(await ReadCountAsync(nodes[0], id), Is.EqualTo(1), "nothing was applied");
        time.Advance(TimeSpan.FromSeconds(31)); // the refused request could not release its lock: its lease frees it
        Assert.That(await IncrementAsync(nodes[1], id), Is.EqualTo(2), "the retry applies the change once");
    }

    [Test]
    public async Task WaitPolicy_PastTheWaitTimeout_NamesTheHolder()
    {
        var time = new ManualTimeProvider();
        var nodes = await StartClusterAsync(2, o =>
        {
            o.LockWaitTimeout = TimeSpan.FromSeconds(5);
            o.LockLease = TimeSpan.FromMinutes(1);
        }, time);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 0));
        var held = await nodes[0].Manager.BeginRequestAsync(id, SessionAccess.Exclusive);

        var waiting = nodes[1].Manager.BeginRequestAsync(id, SessionAccess.Exclusive);
        Assert.That(waiting.IsCompleted, Is.False);
        time.Advance(TimeSpan.FromSeconds(6));

        var timedOut = Assert.ThrowsAsync<SessionLockedException>(() => waiting);
        Assert.That(timedOut!.Holder, Is.EqualTo("node1"));
        await nodes[0].Manager.EndRequestAsync(held!);
    }

    [Test]
    public async Task Waiter_IsGrantedTheLockWhenTheHoldersLeaseEnds()
    {
        var time = new ManualTimeProvider();
        var nodes = await StartClusterAsync(2, o =>
        {
            o.LockWaitTimeout = TimeSpan.FromMinutes(5);
            o.LockLease = TimeSpan.FromSeconds(30);
        }, time);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 0));
        var crashed = await nodes[0].Manager.BeginRequestAsync(id, SessionAccess.Exclusive); // never committed
        Assert.That(crashed, Is.Not.Null);

        var waiting = IncrementAsync(nodes[1], id);
        Assert.That(waiting.IsCompleted, Is.False);
        time.Advance(TimeSpan.FromSeconds(31));

        Assert.That(await waiting, Is.EqualTo(1));
    }

    [Test]
    public async Task Find_PastTheIdleTimeoutBeforeAnySweep_FindsNothing([Values(SessionAccess.Exclusive, SessionAccess.ReadOnly)] SessionAccess access)
    {
        var time = new ManualTimeProvider();
        var nodes = await StartClusterAsync(2, time: time, session: s =>
        {
            s.IdleTimeout = TimeSpan.FromMinutes(1);
            s.SweepInterval = TimeSpan.FromHours(1);
        });
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 1));
        Assert.That(await ReadCountAsync(nodes[1], id), Is.EqualTo(1));

        time.Advance(TimeSpan.FromMinutes(2));

        Assert.That(await nodes[1].Manager.BeginRequestAsync(id, access), Is.Null);
    }

    [Test]
    public async Task Commit_WhoseAnswerIsLost_IsAskedAboutAndAppliedOnce()
    {
        var nodes = await StartClusterAsync(2);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 1));

        _server!.LoseNextCommitReply();

        Assert.That(await IncrementAsync(nodes[1], id), Is.EqualTo(2));
        await HeldEverywhereAsync(nodes, id, 2, "the commit everywhere");
        Assert.That(nodes.Select(n => n.Manager.Table.Get(id)?.Version), Is.All.EqualTo(2), "applied once");
    }

    [Test]
    public async Task Commit_WhoseAnswerIsLostWhileTheServerStaysUnreachable_IsInDoubt()
    {
        var nodes = await StartClusterAsync(2, o => o.CommitTimeout = TimeSpan.FromMilliseconds(200));
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 1));
        var session = await nodes[1].Manager.BeginRequestAsync(id, SessionAccess.Exclusive) ?? throw new AssertionException("not found");
        session.SetInt32("count", 2);

        _server!.LoseNextCommitReply(thenUnavailable: true);
        var doubt = Assert.ThrowsAsync<CommitInDoubtException>(() => nodes[1].Manager.EndRequestAsync(session));
        _server.IsAvailable = true;

        Assert.That(doubt!.SessionId, Is.EqualTo(id));
        Assert.That(await ReadCountAsync(nodes[0], id), Is.EqualTo(2), "it was in fact applied: the client must read before retrying");
    }
}
