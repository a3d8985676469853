using Multicast.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>
/// Two groups that formed apart (a partition from the start) merge when they hear each other: the younger dissolves
/// into the older, each of its members is told it left its group (<see cref="GroupHandler.OnExcluded"/>), and view ids
/// never go backwards at any member — also when the younger group had installed many more views.
/// </summary>
public sealed class ChannelMergeTests
{
    private InMemoryChannelNodes _nodes = null!;
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub()
    {
        _nodes = new InMemoryChannelNodes(seed: 23, "merge", o =>
        {
            o.SuspectTimeout = TimeSpan.FromSeconds(2);
            o.SendTimeout = TimeSpan.FromSeconds(2);
        });
        _hub = _nodes.Hub;
    }

    [TearDown]
    public async Task DisposeNodes() => await _nodes.DisposeAsync();

    [Test]
    public async Task Heal_YoungerGroupWithLargerViewIds_MergesIntoTheOlderAndViewIdsOnlyGrow()
    {
        var y0 = _hub.CreateTransport();
        var x = new[] { _hub.CreateTransport(), _hub.CreateTransport() };
        _hub.Partition(x[0].LocalAddress, x[1].LocalAddress);
        var older = await _nodes.StartAsync("y0", y0); // the older coordinator: its group survives
        var x0 = await _nodes.StartAsync("x0", x[0]);
        var x1 = await _nodes.StartAsync("x1", x[1]);
        await Eventually.Until(() => x0.Channel.View.Members.Count == 2 && older.Channel.View.Members.Count == 1, "two groups");
        // The younger group installs many views: members come and go.
        for (var i = 0; i < 4; i++)
        {
            var transient = _hub.CreateTransport();
            _hub.Partition(x[0].LocalAddress, x[1].LocalAddress, transient.LocalAddress);
            var node = await _nodes.StartAsync($"x-transient{i}", transient);
            await Eventually.Until(() => x0.Channel.View.Members.Count == 3, "a member joins the younger group");
            await node.Channel.LeaveAsync();
            await Eventually.Until(() => x0.Channel.View.Members.Count == 2, "and leaves");
        }
        var transients = _nodes.All.Where(n => n.Channel.LocalMember.NodeId.StartsWith("x-transient", StringComparison.Ordinal)).ToArray();
        foreach (var node in transients)
            await _nodes.RemoveAsync(node);
        var youngerViewId = x0.Channel.View.Id;
        Assert.That(youngerViewId, Is.GreaterThan(older.Channel.View.Id + 5));

        _hub.Heal();

        await Eventually.Until(() => _nodes.All.All(n => n.Channel.View.Members.Count == 3 && n.Channel.View.Id == older.Channel.View.Id), "one group of all three");
        Assert.That(older.Channel.View.Coordinator.NodeId, Is.EqualTo("y0"), "the younger group dissolved into the older");
        Assert.That(older.Channel.View.Id, Is.GreaterThan(youngerViewId), "the merged view is newer than any view a member had");
        foreach (var (channel, handler) in _nodes.All)
            Assert.That(handler.Views.Select(v => v.Id), Is.Ordered.Ascending.And.Unique, $"{channel.LocalMember.NodeId}: view ids only grow");
        Assert.That(x0.Handler.Exclusions.Select(v => v.Id), Does.Contain(youngerViewId), "x0 was told it left its group");
        Assert.That(older.Handler.Exclusions, Is.Empty);
        var seq = await x1.Channel.BroadcastAsync(new byte[] { 1 });
        await Eventually.Within(x1.Channel.WaitForAcksAsync(seq, 2), "traffic in the merged group");
    }

    /// <summary>
    /// The race behind the flaky <c>StartAsync_TwoNodesAtOnce_EndInOneView</c>, made deterministic: the younger node y
    /// forms a group and admits the older x (its Join arrived), but x never hears that view and forms a group of its own.
    /// Then y's view lists x, unconfirmed, while x — older — waits for y to merge into it: each waited for the other for
    /// good. y must ask x's group to admit it.
    /// </summary>
    [Test]
    public async Task OlderMemberFormedItsOwnGroup_BeforeTheYoungerGroupsViewReachedIt_TheyMerge()
    {
        var (xt, yt) = (_hub.CreateTransport(), _hub.CreateTransport());
        var x = _nodes.Create("x", xt); // created first: the older incarnation
        var y = await _nodes.StartAsync("y", yt);
        _hub.BlockLink(yt.LocalAddress, xt.LocalAddress);
        await Eventually.Within(x.Channel.StartAsync(x.Handler).AsTask(), "x to form a group of its own");
        await Eventually.Until(() => y.Channel.View.Members.Count == 2 && x.Channel.View.Members.Count == 1,
            "y's view lists x, x's lists only itself", () => $"x {x.Channel.View}, y {y.Channel.View}");
        Assert.That(x.Channel.LocalMember.Incarnation, Is.LessThan(y.Channel.LocalMember.Incarnation), "x is the older");

        _hub.Heal();
        await Eventually.Until(() => _nodes.All.All(n => n.Channel.View.Members.Count == 2 && n.Channel.View.Id == x.Channel.View.Id),
            "one view of both", () => $"x {x.Channel.View}, y {y.Channel.View}");
        Assert.That(x.Channel.View.Coordinator.NodeId, Is.EqualTo("x"), "the older group survives");
        var seq = await y.Channel.BroadcastAsync(new byte[] { 7 });
        await Eventually.Within(y.Channel.WaitForAcksAsync(seq, 1), "traffic in the merged group");
    }
}
