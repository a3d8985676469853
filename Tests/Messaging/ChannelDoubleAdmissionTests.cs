using System.Text;
using Multicast.Messaging;
using Multicast.Tests.TestSupport;

namespace Multicast.Tests.Messaging;

/// <summary>
/// A member admitted by two groups at once (N12, the other half): its Join reaches the coordinators of two groups that
/// do not hear each other yet — a partition healing — and both admit it; it installs one view, the other group holds
/// it in a view it never confirmed. After healing all must end in one view, and a broadcast from each reach every other.
/// </summary>
public sealed class ChannelDoubleAdmissionTests
{
    private InMemoryChannelNodes _nodes = null!;

    [TearDown]
    public async Task DisposeNodes() => await _nodes.DisposeAsync();

    private static IEnumerable<TestCaseData> Seeds() =>
        Enumerable.Range(1, 40).Select(seed => new TestCaseData(seed).SetArgDisplayNames($"seed {seed}"));

    [TestCaseSource(nameof(Seeds))]
    public async Task JoinerAdmittedByTwoGroups_AfterHealing_OneViewAndEveryBroadcastArrives(int seed)
    {
        var random = new Random(seed);
        _nodes = new InMemoryChannelNodes(seed, "double", o => o.SuspectTimeout = TimeSpan.FromSeconds(2));
        var hub = _nodes.Hub;
        var joinerOldest = random.Next(3) == 0;
        var jt = hub.CreateTransport();
        var joiner = joinerOldest ? _nodes.Create("j", jt) : default;
        var a = new[] { hub.CreateTransport(), hub.CreateTransport() };
        var b = new[] { hub.CreateTransport(), hub.CreateTransport() };
        foreach (var x in a)
        {
            foreach (var y in b)
            {
                hub.BlockLink(x.LocalAddress, y.LocalAddress);
                hub.BlockLink(y.LocalAddress, x.LocalAddress);
            }
        }
        // The joiner hears neither group yet.
        foreach (var x in a.Concat(b))
        {
            hub.BlockLink(x.LocalAddress, jt.LocalAddress);
            hub.BlockLink(jt.LocalAddress, x.LocalAddress);
        }
        var a0 = await _nodes.StartAsync("a0", a[0]);
        await _nodes.StartAsync("a1", a[1]);
        var b0 = await _nodes.StartAsync("b0", b[0]);
        await _nodes.StartAsync("b1", b[1]);
        await Eventually.Until(() => a0.Channel.View.Members.Count == 2 && b0.Channel.View.Members.Count == 2, "two groups of two", _nodes.Views);

        if (!joinerOldest)
            joiner = _nodes.Create("j", jt);
        // The joiner hears (and is heard by) both coordinators; one of them may reach it a little later.
        var late = random.Next(2) == 0 ? a[0] : b[0];
        foreach (var x in new[] { a[0], b[0] })
        {
            hub.UnblockLink(jt.LocalAddress, x.LocalAddress);
            if (x != late)
                hub.UnblockLink(x.LocalAddress, jt.LocalAddress);
        }
        var start = joiner.Channel.StartAsync(joiner.Handler).AsTask();
        await Task.Delay(random.Next(0, 60));
        hub.UnblockLink(late.LocalAddress, jt.LocalAddress);
        await Eventually.Within(start, "j to join");
        await Eventually.Until(() => a0.Channel.View.Members.Count == 3 || b0.Channel.View.Members.Count == 3 , "a coordinator admits j", _nodes.Views);
        await Task.Delay(random.Next(0, 200));
        hub.Heal();

        await Eventually.Until(_nodes.OneViewOfAll, "one view of all five", _nodes.Views, TimeSpan.FromSeconds(30));
        await EveryBroadcastArrives();
    }

    /// <summary>
    /// The older node m's Join reaches the coordinator a0 of a group of several, which admits it, but none of that group's
    /// views reach m: m forms a group of its own. After healing a0, whose view lists m unconfirmed, asks m's (older) group to
    /// admit it — and must take its own group along (dissolve it, as any merge does): installing m's view as if it were the
    /// next view of its own group left a0's other members in a view whose coordinator had moved on, for good.
    /// </summary>
    [TestCaseSource(nameof(Seeds))]
    public async Task CoordinatorAdmittedAnOlderNodeThatFormedItsOwnGroup_AfterHealing_EveryMemberEndsInOneView(int seed)
    {
        var random = new Random(seed);
        _nodes = new InMemoryChannelNodes(seed, "double", o => o.SuspectTimeout = TimeSpan.FromSeconds(2));
        var hub = _nodes.Hub;
        hub.DropProbability = random.Next(3) * 0.02;
        var mt = hub.CreateTransport();
        var m = _nodes.Create("m", mt); // created first: the older incarnation
        var a0 = await _nodes.StartAsync("a0");
        var others = random.Next(1, 4);
        for (var i = 1; i <= others; i++)
            await _nodes.StartAsync($"a{i}");
        await Eventually.Until(() => _nodes.All.Skip(1).All(n => n.Channel.View.Members.Count == others + 1 && n.Channel.View.Id == a0.Channel.View.Id),
            "a0's group", _nodes.Views);
        foreach (var (channel, _) in _nodes.All.Skip(1))
            hub.BlockLink(channel.LocalMember.Address, mt.LocalAddress);
        await Eventually.Within(m.Channel.StartAsync(m.Handler).AsTask(), "m to form a group of its own");
        await Eventually.Until(() => m.Channel.View.Members.Count == 1 && a0.Channel.View.Members.Count == others + 2,
            "a0's view lists m, m's lists only itself", _nodes.Views);
        await Task.Delay(random.Next(0, 100));

        hub.Heal();
        await Eventually.Until(_nodes.OneViewOfAll, "one view of all", _nodes.Views, TimeSpan.FromSeconds(30));
        var history = $"m: {string.Join(", ", m.Handler.Views)}; a0: {string.Join(", ", a0.Handler.Views)}";
        Assert.That(m.Channel.View.Coordinator.NodeId, Is.EqualTo("m"), $"the older group survives; {history}");
        // No view of a0's lineage reaches m: a0 dissolved its group into m's instead of carrying m's view on as its own.
        Assert.That(m.Handler.Views.Select(v => v.Coordinator.NodeId), Is.All.EqualTo("m"), $"m only ever in its own group's views; {history}");
        await EveryBroadcastArrives();
    }

    private async Task EveryBroadcastArrives()
    {
        foreach (var (channel, _) in _nodes.All)
            await channel.BroadcastAsync(Encoding.UTF8.GetBytes($"from {channel.LocalMember.NodeId}"));
        foreach (var (channel, handler) in _nodes.All)
        {
            foreach (var (other, _) in _nodes.All.Where(n => n.Channel != channel))
            {
                var from = other.LocalMember.NodeId;
                await Eventually.Until(() => handler.From(from).Any(m => Encoding.UTF8.GetString(m.Payload) == $"from {from}"),
                    $"{channel.LocalMember.NodeId} receives {from}'s broadcast", () => $"{_nodes.Views()}; {channel.LocalMember.NodeId}: {channel.Counters}");
            }
        }
        foreach (var (channel, handler) in _nodes.All)
            Assert.That(handler.Views.Select(v => v.Id), Is.Ordered.Ascending.And.Unique, $"{channel.LocalMember.NodeId}: view ids only grow");
    }
}
