using Multicast.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>
/// A node's own stall must not evict healthy peers: a coordinator whose timer was not scheduled, or whose receive
/// thread was stuck, for longer than the suspect timeout does not count that time as its peers' silence.
/// </summary>
public sealed class ChannelOwnStallTests
{
    // Short enough that a frozen coordinator would remove everyone, long enough that a starved machine does not.
    private static readonly TimeSpan CoordinatorSuspectTimeout = TimeSpan.FromSeconds(2);

    private InMemoryChannelNodes _nodes = null!;
    private ManualResetEventSlim _release = null!;
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub()
    {
        _nodes = new InMemoryChannelNodes(seed: 17, "stall");
        _hub = _nodes.Hub;
        _release = new ManualResetEventSlim(false);
    }

    [TearDown]
    public async Task DisposeNodes()
    {
        _release.Set();
        await _nodes.DisposeAsync();
        _release.Dispose();
    }

    private Task<(ReliableGroupChannel Channel, CollectingHandler Handler)> Start(string id, TimeSpan suspect, TimeProvider? time = null) =>
        _nodes.StartAsync(id, _hub.CreateTransport(), o => o.SuspectTimeout = suspect, time);

    /// <summary>The coordinator a (short suspect timeout) and two members that never suspect it.</summary>
    private async Task<ReliableGroupChannel> StartGroup(TimeProvider? coordinatorTime = null)
    {
        var a = await Start("a", CoordinatorSuspectTimeout, coordinatorTime);
        await Start("b", TimeSpan.FromSeconds(60));
        await Start("c", TimeSpan.FromSeconds(60));
        await AllInOneView();
        return a.Channel;
    }

    private Task AllInOneView() => Eventually.Until(() =>
    {
        var nodes = _nodes.All;
        return nodes.All(n => n.Channel.View.Members.Count == 3 && n.Channel.View.Id == nodes[0].Channel.View.Id);
    }, "one view of a, b and c");

    /// <summary>Waits (on facts) until <paramref name="channel"/>'s timer has ticked through more than twice the suspect timeout.</summary>
    private static Task TimerRunsPastTheSuspectTimeout(ReliableGroupChannel channel)
    {
        var start = channel.Counters.DatagramsSent;
        var heartbeats = 2 * (int)(CoordinatorSuspectTimeout / TimeSpan.FromMilliseconds(50));
        return Eventually.Until(() => channel.Counters.DatagramsSent >= start + heartbeats, $"{heartbeats} heartbeats");
    }

    [Test]
    public async Task CoordinatorsReceiveThread_StuckLongerThanTheSuspectTimeout_RemovesNobody()
    {
        var a = await StartGroup();
        var viewBefore = a.View.Id;
        _nodes.All[0].Handler.OnReceived = (_, _, _, _) => _release.Wait();

        await _nodes.All[1].Channel.BroadcastAsync(new byte[1]); // a's receive thread is stuck in its handler from here on
        await TimerRunsPastTheSuspectTimeout(a);
        _release.Set();
        await Eventually.Until(() => _nodes.All[0].Handler.CountFrom("b") == 1, "a's receive thread resumes");
        await _nodes.All[2].Channel.BroadcastAsync(new byte[1]);
        await Eventually.Until(() => _nodes.All[0].Handler.CountFrom("c") == 1, "a hears c after the stall");

        Assert.That(a.View.Id, Is.EqualTo(viewBefore), "no view change");
        Assert.That(a.View.Members.Select(m => m.NodeId), Is.EqualTo(new[] { "a", "b", "c" }));
        Assert.That(_nodes.All.Sum(n => n.Channel.Counters.Exclusions), Is.Zero, "nobody was removed");
        Assert.That(a.Counters.LocalStalls, Is.GreaterThanOrEqualTo(1));
    }

    [Test]
    public async Task CoordinatorFrozenLongerThanTheSuspectTimeout_RemovesNobodyWhenItResumes()
    {
        var clock = new FreezableTimeProvider();
        var a = await StartGroup(clock);
        var viewBefore = a.View.Id;
        var b = _nodes.All[1].Channel;

        // The whole node pauses: its timer does not run, and nothing reaches it (the datagrams it would find
        // queued are lost here, so only the late timer can tell it that it was away).
        clock.Freeze();
        _hub.Partition(_nodes.All[0].Channel.LocalMember.Address); // the address of its transport
        var sent = b.Counters.DatagramsSent;
        var heartbeats = 3 * (int)(CoordinatorSuspectTimeout / TimeSpan.FromMilliseconds(50)) / 2;
        await Eventually.Until(() => b.Counters.DatagramsSent >= sent + heartbeats, "1.5 suspect timeouts of b's heartbeats go by");
        Assert.That(clock.HeldCount, Is.GreaterThan(0), "a's timer was due while it was frozen");
        clock.Thaw(); // the timer runs, late, before anything from b or c arrives
        _hub.Heal();
        await TimerRunsPastTheSuspectTimeout(a);

        Assert.That(a.View.Id, Is.EqualTo(viewBefore), "no view change");
        Assert.That(a.View.Members.Select(m => m.NodeId), Is.EqualTo(new[] { "a", "b", "c" }));
        Assert.That(_nodes.All.Sum(n => n.Channel.Counters.Exclusions), Is.Zero, "nobody was removed");
        Assert.That(a.Counters.LocalStalls, Is.GreaterThanOrEqualTo(1), "a noticed its own stall");
    }
}
