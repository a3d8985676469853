using System.Diagnostics;
using Multicast.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>
/// The slow-member bound counts only time the sender and the member were both running (issue 11; the flaky
/// <c>LossyInMemoryGroupChannelTests.BroadcastAsync_LargeAndRandomSizes_ArriveIntact</c>, where a process stall removed a
/// healthy member as slow): a member paused longer than the bound, or a sender whose receive thread was stuck that long
/// (the acknowledgements waiting unread), removes nobody — while a member that stays stuck after its stall is removed.
/// </summary>
public sealed class ChannelSlowMemberStallTests
{
    private const int MessageSize = 16 * 1024;
    private const int Messages = 40; // 640 KiB through a 64 KiB window: sends wait for room, so the bound applies
    private static readonly TimeSpan SlowMemberTimeout = TimeSpan.FromSeconds(1);

    private InMemoryChannelNodes _nodes = null!;
    private ManualResetEventSlim _release = null!;
    private (FreezableTimeProvider Clock, string Address)? _paused;

    [SetUp]
    public void CreateHub()
    {
        _nodes = new InMemoryChannelNodes(seed: 19, "slowstall", o =>
        {
            o.SendWindowBytes = 64 * 1024;
            o.SendTimeout = TimeSpan.FromSeconds(60);
            o.SuspectTimeout = TimeSpan.FromSeconds(60); // only the slow-member bound could remove anyone here
            o.SlowMemberTimeout = SlowMemberTimeout;
        });
        _release = new ManualResetEventSlim(false);
    }

    [TearDown]
    public async Task DisposeNodes()
    {
        Resume(); // a failed assertion must not leave a node paused: its dispose would wait for good
        _release.Set();
        await _nodes.DisposeAsync();
        _release.Dispose();
    }

    /// <summary>a (the coordinator and sender), b, and c on <paramref name="cTime"/>.</summary>
    private async Task<(ReliableGroupChannel A, ReliableGroupChannel B, ReliableGroupChannel C)> StartThree(TimeProvider? cTime = null)
    {
        var a = await _nodes.StartAsync("a", _nodes.Hub.CreateTransport());
        var b = await _nodes.StartAsync("b", _nodes.Hub.CreateTransport());
        var c = await _nodes.StartAsync("c", _nodes.Hub.CreateTransport(), time: cTime);
        await Eventually.Until(_nodes.OneViewOfAll, "one view of a, b and c");
        return (a.Channel, b.Channel, c.Channel);
    }

    /// <summary>Pauses the node as a process would: its timer stops, nothing reaches it, what it sends is held.</summary>
    private void Pause(FreezableTimeProvider clock, ReliableGroupChannel node)
    {
        _paused = (clock, node.LocalMember.Address);
        clock.Freeze();
        _nodes.Hub.Pause(node.LocalMember.Address);
    }

    /// <summary>Its timer runs late, first (its heartbeat, held until the resume, reports the stall); then the held
    /// datagrams flow.</summary>
    private void Resume()
    {
        if (_paused is not { } paused)
            return;
        _paused = null;
        paused.Clock.Thaw();
        _nodes.Hub.Resume(paused.Address);
    }

    private static Task<long>[] Broadcast(ReliableGroupChannel sender) =>
        [.. Enumerable.Range(0, Messages).Select(i =>
        {
            var message = new byte[MessageSize];
            BitConverter.TryWriteBytes(message, i);
            return sender.BroadcastAsync(message).AsTask();
        })];

    /// <summary>Waits until the slow-member bound has passed well over twice, with b's timer heartbeating meanwhile
    /// (timers ran: the sender's checks had their chance to judge).</summary>
    private static async Task BoundPassesTwice(ReliableGroupChannel b)
    {
        var watch = Stopwatch.StartNew();
        var sent = b.Counters.DatagramsSent;
        var heartbeats = 2 * (int)(SlowMemberTimeout / TimeSpan.FromMilliseconds(50));
        await Eventually.Until(() => watch.Elapsed > 2.5 * SlowMemberTimeout && b.Counters.DatagramsSent >= sent + heartbeats,
            "2.5 slow-member bounds and 40 of b's heartbeats go by");
    }

    /// <summary>Once the stall is over: every broadcast is sent, nobody was removed, b and c get every broadcast.</summary>
    private async Task EveryBroadcastArrivesAndNobodyIsRemoved(ReliableGroupChannel a, Task<long>[] sends, long viewBefore, string sent)
    {
        await Eventually.Within(Task.WhenAll(sends), sent);
        Assert.That(a.Counters.SlowMembers, Is.Zero, "nobody reported as slow");
        Assert.That(_nodes.All.Sum(n => n.Channel.Counters.Exclusions), Is.Zero, "nobody removed");
        Assert.That(a.View.Id, Is.EqualTo(viewBefore), "no view change");
        await Eventually.Until(() => _nodes.All.Skip(1).All(n => n.Handler.CountFrom("a") == Messages), "b and c get every broadcast");
    }

    [Test]
    public async Task BroadcastAsync_MemberPausedLongerThanTheSlowMemberBound_IsNotRemovedWhenItResumes()
    {
        var clock = new FreezableTimeProvider();
        var (a, b, c) = await StartThree(clock);
        var viewBefore = a.View.Id;

        Pause(clock, c);
        var sends = Broadcast(a);
        await BoundPassesTwice(b);
        Assert.That(sends.Count(t => !t.IsCompleted), Is.GreaterThan(0), "c holds a's window");
        Assert.That(clock.HeldCount, Is.GreaterThan(0), "c's timer was due while it was paused");
        Resume();

        await EveryBroadcastArrivesAndNobodyIsRemoved(a, sends, viewBefore, "every broadcast sent once c caught up");
        Assert.That(c.Counters.LocalStalls, Is.GreaterThanOrEqualTo(1), "c noticed its own stall");
    }

    [Test]
    public async Task BroadcastAsync_SendersReceiveThreadStuckLongerThanTheSlowMemberBound_RemovesNobody()
    {
        var (a, b, _) = await StartThree();
        var viewBefore = a.View.Id;
        _nodes.All[0].Handler.OnReceived = (_, _, _, _) => _release.Wait();
        await b.BroadcastAsync(new byte[1]); // a's receive thread is stuck in its handler from here on: acks wait unread

        var sends = Broadcast(a);
        await BoundPassesTwice(b);
        Assert.That(sends.Count(t => !t.IsCompleted), Is.GreaterThan(0), "a's window is full");
        _release.Set();

        await EveryBroadcastArrivesAndNobodyIsRemoved(a, sends, viewBefore, "every broadcast sent once a reads the acknowledgements");
        Assert.That(a.Counters.LocalStalls, Is.GreaterThanOrEqualTo(1), "a noticed its own stall");
    }

    [Test]
    public async Task BroadcastAsync_MemberStillStuckAfterItsPause_IsRemoved()
    {
        // The reported stall is credited once: a member whose handler stays stuck after the resume is slow, and removed.
        var clock = new FreezableTimeProvider();
        var (a, b, c) = await StartThree(clock);
        _nodes.All[2].Handler.OnReceived = (_, _, _, unicast) =>
        {
            if (!unicast)
                _release.Wait();
        };

        Pause(clock, c);
        var sends = Broadcast(a);
        await BoundPassesTwice(b);
        Resume();

        await Eventually.Until(() => !a.View.Contains("c") && !b.View.Contains("c"), "c removed from the view");
        Assert.That(a.Counters.SlowMembers, Is.GreaterThanOrEqualTo(1), "removed as a slow member");
        Assert.That(c.Counters.LocalStalls, Is.GreaterThanOrEqualTo(1), "its stall was counted (and reported)");
        await Eventually.Within(Task.WhenAll(sends), "a's broadcasts resume without c");
    }
}
