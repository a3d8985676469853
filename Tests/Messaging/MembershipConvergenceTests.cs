using System.Diagnostics;
using Multicast.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>
/// Views form despite loss, seeded and replayable: every member, the coordinator included, installs one view of all,
/// even when a fifth of all datagrams is lost — including those a node sends itself, as the loss tests' iptables rule
/// drops them (the coordinator installs its own views through its receive thread).
/// </summary>
[TestFixture]
public sealed class MembershipConvergenceTests
{
    private readonly List<(ReliableGroupChannel Channel, CollectingHandler Handler)> _nodes = [];

    [TearDown]
    public async Task DisposeNodes()
    {
        await Task.WhenAll(_nodes.Select(n => n.Channel.DisposeAsync().AsTask()));
        foreach (var (channel, handler) in _nodes)
            Assert.That(handler.ContractViolation, Is.Null);
        _nodes.Clear();
    }

    private static IEnumerable<TestCaseData> Groups()
    {
        foreach (var (members, seeds) in new[] { (3, 12), (8, 8), (32, 3) })
        {
            for (var seed = 1; seed <= seeds; seed++)
                yield return new TestCaseData(members, seed).SetArgDisplayNames($"{members} members", $"seed {seed}");
        }
    }

    private static GroupChannelOptions Options(string nodeId, int members) => new()
    {
        ClusterId = "convergence",
        NodeId = nodeId,
        HeartbeatInterval = TimeSpan.FromMilliseconds(members > 8 ? 200 : 100),
        SuspectTimeout = TimeSpan.FromSeconds(10), // loss and a busy machine must not remove anyone here
        JoinTimeout = TimeSpan.FromMilliseconds(300),
        JoinRetryInterval = TimeSpan.FromMilliseconds(30),
        SendTimeout = TimeSpan.FromSeconds(1), // bounds the graceful leave at teardown, when everyone leaves at once
    };

    private async Task<ReliableGroupChannel> Start(InMemoryHub hub, string nodeId, int members)
    {
        var channel = new ReliableGroupChannel(hub.CreateTransport(), Options(nodeId, members), loggers: TestLogging.Factory);
        var handler = new CollectingHandler();
        lock (_nodes)
            _nodes.Add((channel, handler));
        await Eventually.Within(channel.StartAsync(handler).AsTask(), $"{nodeId} to join");
        return channel;
    }

    [TestCaseSource(nameof(Groups))]
    public async Task StartAsync_TwentyPercentLossAlsoOfOwnDatagrams_EveryMemberInstallsOneViewOfAll(int members, int seed)
    {
        var hub = new InMemoryHub(seed)
        {
            DropProbability = 0.2,
            LoopbackDropProbability = 0.2,
            DuplicateProbability = 0.05,
            ReorderProbability = 0.05,
        };
        var clock = Stopwatch.StartNew();

        await Start(hub, "m0", members); // forms the group
        await Task.WhenAll(Enumerable.Range(1, members - 1).Select(i => Start(hub, $"m{i}", members)));
        await Eventually.Until(() => OneViewOfAll(members), $"all {members} members install one view of all", Views, TimeSpan.FromSeconds(60));

        TestContext.Out.WriteLine($"{members} members, seed {seed}: one view of all after {clock.ElapsedMilliseconds} ms; " +
            $"views per member {_nodes.Average(n => n.Handler.Views.Count):F1}, view datagrams resent {_nodes.Sum(n => n.Channel.Counters.ViewRetransmissions)}");
        foreach (var (channel, handler) in _nodes)
            Assert.That(handler.Views.Select(v => v.Id), Is.Ordered.Ascending.And.Unique, $"{channel.LocalMember}: view ids only grow");
    }

    [Test]
    public async Task StartAsync_CoordinatorLosesMostDatagramsToItself_StillInstallsEveryView()
    {
        var hub = new InMemoryHub(seed: 4) { LoopbackDropProbability = 0.8 };

        await Start(hub, "m0", 3);
        await Start(hub, "m1", 3);
        await Start(hub, "m2", 3);

        await Eventually.Until(() => OneViewOfAll(3), "all three install one view of all");
        Assert.That(_nodes[0].Channel.Counters.ViewRetransmissions, Is.GreaterThan(0), "the coordinator repeated its view to itself");
    }

    /// <summary>Which views the members hold (shown with a failure).</summary>
    private string Views()
    {
        lock (_nodes)
        {
            return string.Join(", ", _nodes.GroupBy(n => (n.Channel.View.Id, n.Channel.View.Members.Count, Coordinator: n.Channel.View.Members.Count > 0 ? n.Channel.View.Coordinator.NodeId : "-"))
                .Select(g => $"view {g.Key.Id} of {g.Key.Count} by {g.Key.Coordinator}: {string.Join(' ', g.Select(n => n.Channel.LocalMember.NodeId))}"));
        }
    }

    private bool OneViewOfAll(int members)
    {
        lock (_nodes)
        {
            if (_nodes.Count != members)
                return false;
            var views = _nodes.Select(n => n.Channel.View).ToArray();
            return views.All(v => v.Id == views[0].Id && v.Members.Count == members);
        }
    }
}
