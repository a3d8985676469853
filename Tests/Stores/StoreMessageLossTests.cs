using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Transport;
using Multicast.Transports.InMemory;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

/// <summary>
/// One store message lost on the way (a channel bug or a datagram the channel never repaired, issue 10 N12): the store
/// must not wait for it for good. Each test loses exactly the message it names, on the in-memory network.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class StoreMessageLossTests(bool ring) : StoreTestBase
{
    private InMemoryHub _hub = new();
    private readonly List<LossyChannel> _channels = [];
    private Func<Envelope, bool>? _nextBroadcastFilter;

    [SetUp]
    public void NewHub()
    {
        _hub = new InMemoryHub(seed: Environment.TickCount);
        _channels.Clear();
    }

    protected override ITransport CreateTransport(int index) => _hub.CreateTransport();

    protected override IClusterStore CreateNodeStore(int index, ClusterStoreOptions options, TimeProvider time)
    {
        var channel = new LossyChannel(new ReliableGroupChannel(CreateTransport(index), ChannelOptions(options.NodeId), loggers: TestLogging.Factory));
        if (_nextBroadcastFilter is { } filter)
            channel.BroadcastFilter = filter;
        _channels.Add(channel);
        return ring ? new RingClusterStore(channel, options, time, StoreLog(options)) : new ReplicatedClusterStore(channel, options, time, StoreLog(options));
    }

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
            _channels[i].UnicastFilter = e => e.ReplicateAck is { Status: ReplicateStatus.Applied } && arbiterStore.Counters.CommitResends == 0;
            _channels[i].DropUnicasts(int.MaxValue);
        }

        var count = await Eventually.Within(IncrementAsync(nodes[0], id), "the commit whose acknowledgements were lost");

        Assert.That(count, Is.EqualTo(2));
        Assert.That(_channels.Sum(c => c.Dropped), Is.GreaterThan(0), "an acknowledgement was lost");
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
        _nextBroadcastFilter = e => e.PrimaryState is not null || e.MemberReady is not null;
        var joiner = await Eventually.Within(StartNodeAsync("node3"), "the joiner is ready (its start waits for it)");
        nodes = [.. nodes, joiner];

        await Eventually.Until(() => nodes.All(n => ViewOf(n).Members.Count == 3 && n.Store.Status == ClusterStoreStatus.Ready), "3 ready members", () => DescribeNodes(nodes));
        Assert.That(_channels[2].Dropped, Is.GreaterThan(0), "the joiner's broadcasts were lost");
        Assert.That(await IncrementAsync(joiner, id), Is.EqualTo(2));
    }
}
