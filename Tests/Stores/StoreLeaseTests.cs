using Multicast.Messaging;
using Multicast.Messaging.Internal;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Stores;

/// <summary>
/// The lease: a node that was paused past the suspect timeout may have been removed while the others went on; until a
/// majority confirms its view it neither answers a Latest read nor grants a lock from its own (possibly stale) copy.
/// The pause is exact: the node's timers are frozen and nothing reaches it; on resume its peers' heartbeats reach it
/// (so its channel has heard from a majority) while the view that removed it is still held back — the moment in which
/// only the stall tells the node that its belief may be old.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class StoreLeaseTests(bool ring) : StoreTestBase
{
    private const int Paused = 2; // node3: the youngest, so never the coordinator that removes anyone
    private InMemoryHub _hub = new();
    private GatedTransport? _gated;

    [SetUp]
    public void NewHub()
    {
        _hub = new InMemoryHub(seed: Environment.TickCount);
        _gated = null;
    }

    protected override ITransport CreateTransport(int index)
    {
        var transport = _hub.CreateTransport();
        return index == Paused ? _gated = new GatedTransport(_hub, transport) : transport;
    }

    /// <summary>The channel runs on the node's clock too: a pause freezes both.</summary>
    protected override IClusterStore CreateNodeStore(int index, ClusterStoreOptions options, TimeProvider time)
    {
        var channel = new ReliableGroupChannel(CreateTransport(index), ChannelOptions(options.NodeId), time, TestLogging.Factory);
        return ring ? new RingClusterStore(channel, options, time, StoreLog(options)) : new ReplicatedClusterStore(channel, options, time, StoreLog(options));
    }

    protected override GroupChannelOptions ChannelOptions(string nodeId)
    {
        var options = base.ChannelOptions(nodeId);
        options.SuspectTimeout = TimeSpan.FromMilliseconds(1500); // the others remove the paused node in a test-sized time
        return options;
    }

    private static void Configure(ClusterStoreOptions options) => options.LockWaitTimeout = TimeSpan.FromSeconds(30);

    /// <summary>What a request answered: the count it saw, or that it was refused as unavailable (a 503, allowed).</summary>
    private static async Task<int?> CountOrRefusedAsync(Task<Session?> request, SessionManager manager)
    {
        try
        {
            var session = await request ?? throw new AssertionException("the session was not found");
            var count = session.GetInt32("count");
            await manager.EndRequestAsync(session); // an exclusive one releases its lock
            return count;
        }
        catch (ClusterUnavailableException)
        {
            return null;
        }
    }

    [Test]
    public async Task ReadAndLock_AfterAPausePastTheSuspectTimeout_NeverAnswerFromTheStaleCopy()
    {
        var clock = new FreezableTimeProvider();
        var others = new[] { await StartNodeAsync("node1", Configure), await StartNodeAsync("node2", Configure) };
        var paused = await StartNodeAsync("node3", Configure, clock);
        TestNode[] nodes = [.. others, paused];
        await Eventually.Until(() => nodes.All(n => ViewOf(n).Members.Count == 3 && n.Store.Status == ClusterStoreStatus.Ready), "3 ready members", () => DescribeNodes(nodes));
        var gate = _gated!;
        var store = (ArbitratedClusterStore)paused.Store;
        var channel = (ReliableGroupChannel)store.Channel;
        // Created on node3, so node3 arbitrates it (the id carries its ring index) and answers for it from its own copy.
        var id = await CreateWithAsync(paused, s => s.SetInt32("count", 1));
        await HeldEverywhereAsync(nodes, id, 1, "the session on its holders");
        var beliefBefore = ViewOf(paused).Id;

        // SIGSTOP: node3's timers stop and nothing reaches its receive thread (nothing is sent without either).
        clock.Freeze();
        gate.HoldIncoming();
        await Eventually.Until(() => others.All(n => ViewOf(n).Members.Count == 2 && n.Store.IsReady()), "the others remove node3 and go on", () => DescribeNodes(others));
        Assert.That(await IncrementAsync(others[0], id), Is.EqualTo(2), "acknowledged while node3 is away");

        // SIGCONT, with the view that removed it still on its way: its peers' heartbeats reach it, nothing else yet.
        gate.HoldIncoming(pass: kind => kind == PacketKind.Heartbeat);
        clock.Thaw();
        await Eventually.Until(() => channel.HeardFromMajorityWithin(channel.Options.SuspectTimeout / 2), "node3's channel hears a majority again");
        Assert.That(ViewOf(paused).Id, Is.EqualTo(beliefBefore), "node3 still believes in the view it was paused in");
        Assert.That(paused.Store.Status, Is.EqualTo(ClusterStoreStatus.Ready), "and that it serves in it");
        Assert.That(store.Counters.Stalls, Is.GreaterThan(0), "the store noticed its stall");

        var asked = gate.SentOf(PacketKind.UnicastData);
        var read = paused.Manager.BeginRequestAsync(id, SessionAccess.ReadOnly);
        var locked = paused.Manager.BeginRequestAsync(id, SessionAccess.Exclusive);
        // From its own copy both would answer at once; with the lease node3 first asks its view's members (a unicast).
        await Eventually.Until(() => (read.IsCompleted && locked.IsCompleted) || gate.SentOf(PacketKind.UnicastData) > asked, "node3 answers or asks its peers");
        gate.ReleaseIncoming();

        var readCount = await Eventually.Within(CountOrRefusedAsync(read, paused.Manager), "the read on node3", TimeSpan.FromSeconds(60));
        var lockedCount = await Eventually.Within(CountOrRefusedAsync(locked, paused.Manager), "the exclusive request on node3", TimeSpan.FromSeconds(60));
        Assert.Multiple(() =>
        {
            Assert.That(readCount, Is.Null.Or.EqualTo(2), "a Latest read answers the acknowledged count (or 503), never node3's stale copy");
            Assert.That(lockedCount, Is.Null.Or.EqualTo(2), "a lock is granted on the acknowledged count (or refused), never on node3's stale copy");
        });
    }
}
