using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Stores;

/// <summary>
/// What both stores guarantee under the faults a farm sees besides a crash: a partition (the minority refuses, the
/// majority serves, the heal converges), a node cut off and taken back, a graceful leave while commits wait, a removal
/// that must stay removed, and bad configuration. On the in-memory network, where the test cuts links.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class StoreFaultTests(bool ring) : StoreTestBase
{
    private InMemoryHub _hub = new();
    private readonly Dictionary<int, string> _addresses = [];

    [SetUp]
    public void NewHub()
    {
        _hub = new InMemoryHub(seed: Environment.TickCount);
        _addresses.Clear();
        _maxMessageBytes = null;
    }

    protected override ITransport CreateTransport(int index)
    {
        var transport = _hub.CreateTransport();
        _addresses[index] = transport.LocalAddress;
        return transport;
    }

    protected override IClusterStore CreateStore(IGroupChannel channel, ClusterStoreOptions options, TimeProvider time) =>
        ring ? new RingClusterStore(channel, options, time, StoreLog(options)) : new ReplicatedClusterStore(channel, options, time, StoreLog(options));

    /// <summary>The channel's message limit in this test (null: the default).</summary>
    private int? _maxMessageBytes;

    protected override GroupChannelOptions ChannelOptions(string nodeId)
    {
        var options = base.ChannelOptions(nodeId);
        options.SuspectTimeout = TimeSpan.FromMilliseconds(1500); // partitions are detected in a test-sized time
        if (_maxMessageBytes is { } max)
            options.MaxMessageBytes = max;
        return options;
    }

    private string AddressOf(TestNode node) => ViewOf(node).Find(node.Id)!.Address;

    /// <summary>Sessions created on every node (so each node arbitrates some), each at count 1.</summary>
    private static async Task<List<string>> SessionsOnEveryNodeAsync(TestNode[] nodes, int perNode)
    {
        var ids = new List<string>();
        foreach (var node in nodes)
        {
            for (var i = 0; i < perNode; i++)
                ids.Add(await CreateWithAsync(node, s => s.SetInt32("count", 1)));
        }
        return ids;
    }

    /// <summary>After the heal: every node that holds a session holds the same version and content.</summary>
    private static async Task ConvergedAsync(TestNode[] nodes, IEnumerable<string> ids)
    {
        foreach (var id in ids)
        {
            await Eventually.Until(() =>
            {
                var copies = nodes.Where(n => MustHold(n, id)).Select(n => n.Manager.Table.Get(id)).ToArray();
                return copies.Length > 0 && copies.All(c => c is not null && c.Version == copies[0]!.Version
                    && c.Attributes.Keys.Order().SequenceEqual(copies[0]!.Attributes.Keys.Order())
                    && c.Attributes.All(a => copies[0]!.Attributes.TryGetValue(a.Key, out var v) && v.AsSpan().SequenceEqual(a.Value)));
            }, $"every holder of {id} holds the same version and content");
        }
    }

    private static Task AllReadyAsync(TestNode[] nodes) =>
        Eventually.Until(() => nodes.All(n => ViewOf(n).Members.Count == nodes.Length && n.Store.Status == ClusterStoreStatus.Ready), $"{nodes.Length} ready members", () => DescribeNodes(nodes));

    [Test]
    public async Task Partition_TheMinorityRefusesTheMajorityServes_TheHealConverges()
    {
        var nodes = await StartClusterAsync(3);
        var ids = await SessionsOnEveryNodeAsync(nodes, 3);
        var cut = nodes[2];

        _hub.Partition(AddressOf(cut));
        await Eventually.Until(() => cut.Store.Status == ClusterStoreStatus.NoQuorum, "the cut-off node has no quorum");
        await Eventually.Until(() => nodes.Take(2).All(n => ViewOf(n).Members.Count == 2 && n.Store.IsReady()), "the majority goes on");

        var refused = Assert.ThrowsAsync<ClusterUnavailableException>(async () => await IncrementAsync(cut, ids[0]));
        Assert.That(refused!.Status, Is.EqualTo(ClusterStoreStatus.NoQuorum));
        Assert.That(refused.RetryAfter, Is.GreaterThan(TimeSpan.Zero));
        foreach (var id in ids)
            Assert.That(await IncrementAsync(nodes[0], id), Is.EqualTo(2), $"the majority serves {id}, whichever node arbitrated it");

        _hub.Heal();
        await AllReadyAsync(nodes);
        await ConvergedAsync(nodes, ids);
        foreach (var node in nodes)
        {
            foreach (var id in ids)
                Assert.That(await ReadCountAsync(node, id), Is.EqualTo(2), $"{id} on {node.Id}: acknowledged once, refused once");
        }
    }

    [Test]
    public async Task CutOffNode_WhenTakenBack_CatchesUpBeforeItServesAgain()
    {
        var nodes = await StartClusterAsync(3);
        var ids = await SessionsOnEveryNodeAsync(nodes, 2);
        var cut = nodes[1];

        _hub.Partition(AddressOf(cut));
        await Eventually.Until(() => ViewOf(nodes[0]).Members.Count == 2 && nodes[0].Store.IsReady(), "the majority goes on without it");
        for (var round = 0; round < 3; round++)
        {
            foreach (var id in ids)
                await IncrementAsync(nodes[2], id);
        }
        _hub.Heal();

        await AllReadyAsync(nodes);
        foreach (var id in ids)
            Assert.That(await ReadCountAsync(cut, id), Is.EqualTo(4), $"{id}: what the primary committed while it was away");
        await ConvergedAsync(nodes, ids);
        Assert.That(((ArbitratedClusterStore)cut.Store).Counters.Reconciliations, Is.GreaterThan(0));
    }

    [Test]
    public async Task Heal_WhenTheStaleArbitersCopiesFillMoreThanOneMessage_ItFetchesThemAllAndCatchesUp()
    {
        // 12 sessions of 60 KiB to fetch in one reconciliation, through a channel that takes 512 KiB a message: one
        // reply holding them all is refused by the channel, and the arbiter would ask for it until the view changes.
        _maxMessageBytes = 512 * 1024;
        var nodes = await StartClusterAsync(3, session: s => s.MaxSessionBytes = 128 * 1024);
        var cut = nodes[2];
        var blob = new byte[60 * 1024];
        new Random(7).NextBytes(blob);
        var ids = new List<string>();
        for (var i = 0; i < 12; i++)
            ids.Add(await CreateWithAsync(cut, s => { s.SetInt32("count", 1); s.Set("blob", blob); })); // cut arbitrates them

        _hub.Partition(AddressOf(cut));
        await Eventually.Until(() => ViewOf(nodes[0]).Members.Count == 2 && nodes[0].Store.IsReady(), "the majority goes on without it");
        foreach (var id in ids)
            Assert.That(await IncrementAsync(nodes[0], id), Is.EqualTo(2), $"the majority commits {id}");
        _hub.Heal();

        await AllReadyAsync(nodes); // its arbiter again, the healed node must first fetch every newer copy
        foreach (var id in ids)
            Assert.That(await ReadCountAsync(cut, id), Is.EqualTo(2), $"{id}: what the primary committed while it was away");
        await ConvergedAsync(nodes, ids);
    }

    [Test]
    public async Task GracefulLeave_WhileCommitsWaitForEveryMember_TheyCompleteWithTheRest()
    {
        // Every other member must acknowledge, and the commit timeout is far longer than the test: only counting the
        // write concern again over the new view lets these commits finish.
        var nodes = await StartClusterAsync(3, o =>
        {
            o.ReplicationAcks = 2;
            o.CommitTimeout = TimeSpan.FromMinutes(5);
        });
        var ids = await SessionsOnEveryNodeAsync([nodes[0]], 4);
        using var stop = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            var done = 0;
            while (!stop.IsCancellationRequested)
            {
                foreach (var id in ids)
                    await IncrementAsync(nodes[0], id);
                done++;
            }
            return done;
        });
        await Eventually.Until(() => nodes[0].Manager.Table.Get(ids[0])?.Version >= 5, "commits under way");

        await nodes[2].Manager.StopAsync();
        await Eventually.Until(() => ViewOf(nodes[0]).Members.Count == 2 && nodes[0].Store.IsReady(), "the leave installed");
        var after = nodes[0].Manager.Table.Get(ids[0])!.Version;
        await Eventually.Until(() => load.IsCompleted || nodes[0].Manager.Table.Get(ids[0])!.Version >= after + 3, "commits go on after the leave",
            () => DescribeNodes(nodes.Take(2)));
        Assert.That(load.IsFaulted, Is.False, () => $"a commit failed: {load.Exception?.InnerException}");
        await stop.CancelAsync();

        var rounds = await Eventually.Within(load, "the load (no commit may stall or fail)");
        Assert.That(rounds, Is.GreaterThan(0));
        Assert.That(((ArbitratedClusterStore)nodes[0].Store).Counters.WriteConcernTimeouts, Is.Zero);
        Assert.That(nodes[0].Store.Status, Is.EqualTo(ClusterStoreStatus.Ready).Or.EqualTo(ClusterStoreStatus.Degraded));
    }

    [Test]
    public async Task Arbiter_CutOffBeforeItsChannelNotices_NeverAcknowledgesACommitAlone()
    {
        // The commit timeout is far shorter than the suspect timeout: the arbiter still sees a three-member view while no
        // acknowledgement can reach it. The members that do not acknowledge stop counting only down to a majority, so
        // the commit must not complete on the arbiter alone.
        var nodes = await StartClusterAsync(3, o =>
        {
            o.CommitTimeout = TimeSpan.FromMilliseconds(200);
            o.LockWaitTimeout = TimeSpan.FromSeconds(1);
        });
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 1));
        await HeldEverywhereAsync(nodes, id, 1, "the session on its holders");
        var session = await nodes[0].Manager.BeginRequestAsync(id, SessionAccess.Exclusive) ?? throw new AssertionException("not found");
        session.SetInt32("count", 2);

        _hub.Partition(AddressOf(nodes[0]));
        Assert.ThrowsAsync<CommitInDoubtException>(async () => await nodes[0].Manager.EndRequestAsync(session));

        Assert.That(nodes[0].Manager.Table.Get(id)?.Version, Is.EqualTo(1), "the arbiter applies only after its write concern");
        _hub.Heal();
        await AllReadyAsync(nodes);
        await ConvergedAsync(nodes, [id]);
    }

    [Test]
    public async Task Invalidate_WhileANodeIsCutOff_TheSessionStaysRemovedAfterTheHeal()
    {
        var nodes = await StartClusterAsync(3);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 1));
        await HeldEverywhereAsync(nodes, id, 1, "the session on its holders");
        var cut = nodes.First(n => n != nodes[0] && MustHold(n, id));

        _hub.Partition(AddressOf(cut));
        var survivors = nodes.Where(n => n != cut).ToArray();
        await Eventually.Until(() => survivors.All(n => ViewOf(n).Members.Count == 2 && n.Store.IsReady()), "the majority goes on");
        var session = await survivors[0].Manager.BeginRequestAsync(id, SessionAccess.Exclusive) ?? throw new AssertionException("not found");
        await survivors[0].Manager.InvalidateAsync(session);
        _hub.Heal();

        await AllReadyAsync(nodes);
        await Eventually.Until(() => nodes.All(n => !n.Manager.Table.Contains(id)), "no node holds the removed session");
        foreach (var node in nodes)
            Assert.That(await node.Manager.BeginRequestAsync(id, SessionAccess.ReadOnly), Is.Null, $"{node.Id}: a removed session does not come back");
    }

    [Test]
    public async Task TwoNodes_OneCutOff_NeitherAcceptsWritesAlone()
    {
        var nodes = await StartClusterAsync(2);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 1));
        await HeldEverywhereAsync(nodes, id, 1, "the session on both");

        _hub.Partition(AddressOf(nodes[1]));
        await Eventually.Until(() => nodes.All(n => n.Store.Status == ClusterStoreStatus.NoQuorum), "neither half is a majority of two");

        foreach (var node in nodes)
            Assert.ThrowsAsync<ClusterUnavailableException>(async () => await IncrementAsync(node, id), node.Id);
        _hub.Heal();
        await AllReadyAsync(nodes);
        Assert.That(await IncrementAsync(nodes[1], id), Is.EqualTo(2));
    }

    [Test]
    public async Task TwoNodes_OneLeavesGracefully_TheOtherServesAlone()
    {
        var nodes = await StartClusterAsync(2);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 1));
        await HeldEverywhereAsync(nodes, id, 1, "the session on both");

        await nodes[1].Manager.StopAsync();
        await Eventually.Until(() => ViewOf(nodes[0]).Members.Count == 1 && nodes[0].Store.IsReady(), "a graceful leave keeps the survivor primary");

        Assert.That(await IncrementAsync(nodes[0], id), Is.EqualTo(2));
    }

    [Test]
    public async Task QuorumOfOne_ALoneHalfOfTwoGoesOn()
    {
        var nodes = await StartClusterAsync(2, o => o.Quorum = 1);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 1));
        await HeldEverywhereAsync(nodes, id, 1, "the session on both");

        _hub.Partition(AddressOf(nodes[1]));
        await Eventually.Until(() => ViewOf(nodes[0]).Members.Count == 1 && nodes[0].Store.IsReady(), "a quorum of one is met alone");

        Assert.That(await IncrementAsync(nodes[0], id), Is.EqualTo(2));
    }

    [Test]
    public async Task LockingNone_ConcurrentWritersOnEveryNode_EveryHolderEndsIdentical()
    {
        var nodes = await StartClusterAsync(3, o => o.Locking = LockingMode.None);
        var id = await CreateWithAsync(nodes[0], s => s.SetString("seed", "x"));
        await HeldEverywhereAsync(nodes, id, 1, "the session on its holders");

        await Task.WhenAll(nodes.Select((node, n) => Task.Run(async () =>
        {
            for (var i = 0; i < 30; i++)
            {
                var session = await node.Manager.BeginRequestAsync(id, SessionAccess.Exclusive) ?? throw new AssertionException("not found");
                session.SetString($"n{n}", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                session.SetString("last", node.Id);
                await node.Manager.EndRequestAsync(session);
            }
        })));

        await HeldEverywhereAsync(nodes, id, 91, "every commit on every holder");
        await ConvergedAsync(nodes, [id]);
        var read = await nodes[0].Manager.BeginRequestAsync(id, SessionAccess.ReadOnly);
        Assert.That(Enumerable.Range(0, 3).Select(n => read!.GetString($"n{n}")), Is.All.EqualTo("29"), "each writer's last write survives the merge");
    }

    [Test]
    public void Start_StoreNodeIdDifferentFromTheChannel_FailsNamingTheKey()
    {
        var channel = new ReliableGroupChannel(_hub.CreateTransport(), ChannelOptions("channel-id"));
        var store = CreateStore(channel, new ClusterStoreOptions { NodeId = "store-id" }, TimeProvider.System);
        var manager = new SessionManager(store, new SessionOptions());

        var error = Assert.ThrowsAsync<OptionsValidationError>(() => manager.StartAsync());

        Assert.That(error!.Message, Does.Contain("Cluster:NodeId"));
    }

    [Test]
    public void Start_MaxSessionBytesAboveTheChannelsMessageLimit_FailsNamingTheKey()
    {
        var options = ChannelOptions("n1");
        options.MaxMessageBytes = 1024 * 1024;
        var channel = new ReliableGroupChannel(_hub.CreateTransport(), options);
        var store = CreateStore(channel, new ClusterStoreOptions { NodeId = "n1" }, TimeProvider.System);
        var manager = new SessionManager(store, new SessionOptions { MaxSessionBytes = 1024 * 1024 });

        var error = Assert.ThrowsAsync<OptionsValidationError>(() => manager.StartAsync());

        Assert.That(error!.Message, Does.Contain("Session:MaxSessionBytes"));
    }
}
