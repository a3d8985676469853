using System.Text;
using Multicast.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>
/// A member whose handler is stuck (its receive thread blocked, its timer still heartbeating) must not stall the
/// others: unicast streams to other members have windows of their own, the stuck member is removed — for holding a
/// sender's broadcast window, or because its heartbeats say its receive thread is stuck — and broadcasts resume.
/// </summary>
public sealed class ChannelSlowMemberTests
{
    private const int MessageSize = 16 * 1024;
    private const int Messages = 5 * 1024 * 1024 / MessageSize; // 5 MiB

    private InMemoryChannelNodes _nodes = null!;
    private ManualResetEventSlim _release = null!;

    private sealed record Node(string Id, ReliableGroupChannel Channel, CollectingHandler Handler);

    [SetUp]
    public void CreateHub()
    {
        _nodes = new InMemoryChannelNodes(seed: 13, "slow", o =>
        {
            o.SendWindowBytes = 256 * 1024;
            o.SendTimeout = TimeSpan.FromSeconds(60);
        });
        _release = new ManualResetEventSlim(false);
    }

    [TearDown]
    public async Task DisposeNodes()
    {
        _release.Set();
        await _nodes.DisposeAsync();
        _release.Dispose();
    }

    private async Task<Node> Start(string id, TimeSpan suspect, TimeSpan? slow)
    {
        var (channel, handler) = await _nodes.StartAsync(id, o =>
        {
            o.SuspectTimeout = suspect;
            o.SlowMemberTimeout = slow;
        });
        return new Node(id, channel, handler);
    }

    private async Task<(Node A, Node B, Node C)> StartThree(TimeSpan suspect, TimeSpan? slow = null)
    {
        var a = await Start("a", suspect, slow);
        var b = await Start("b", suspect, slow);
        var c = await Start("c", suspect, slow);
        await Eventually.Until(() => _nodes.All.All(n => n.Channel.View.Members.Count == 3 && n.Channel.View.Id == a.Channel.View.Id), "one view of three");
        return (a, b, c);
    }

    /// <summary>The member's handler blocks on the first broadcast it is given, until the test ends (or releases it).</summary>
    private void BlockOnFirstBroadcast(Node node) => node.Handler.OnReceived = (_, _, _, unicast) =>
    {
        if (!unicast)
            _release.Wait();
    };

    private static List<Task<long>> BroadcastFiveMiB(Node sender)
    {
        var sends = new List<Task<long>>(Messages);
        for (var i = 0; i < Messages; i++)
        {
            var message = new byte[MessageSize];
            BitConverter.TryWriteBytes(message, i);
            sends.Add(sender.Channel.BroadcastAsync(message).AsTask());
        }
        return sends;
    }

    [Test]
    public async Task SendAsync_ToAnotherMemberWhileAStuckMemberHoldsTheBroadcastWindow_IsDelivered()
    {
        // Nothing removes the stuck member in this test: only the separate windows let the unicasts through.
        var (a, b, c) = await StartThree(suspect: TimeSpan.FromSeconds(60), slow: TimeSpan.FromSeconds(60));
        BlockOnFirstBroadcast(c);

        var broadcasts = BroadcastFiveMiB(a);
        var unicasts = Enumerable.Range(0, 100).Select(i => a.Channel.SendAsync("b", Encoding.UTF8.GetBytes($"u{i}")).AsTask()).ToArray();

        await Eventually.Within(Task.WhenAll(unicasts), "the unicasts to b");
        await Eventually.Until(() => b.Handler.CountFrom("a", unicast: true) == 100, "b receives every unicast");
        Assert.That(b.Handler.From("a", unicast: true).Select(m => Encoding.UTF8.GetString(m.Payload)), Is.EqualTo(Enumerable.Range(0, 100).Select(i => $"u{i}")));
        Assert.That(broadcasts.Count(t => !t.IsCompleted), Is.GreaterThan(0), "the broadcast window is full: c holds it");
        Assert.That(a.Channel.View.Members.Select(m => m.NodeId), Does.Contain("c"));
    }

    [Test]
    public async Task BroadcastAsync_FiveMiBWhileAMemberIsStuck_TheStuckMemberIsRemovedAndBroadcastsResume([Values("a", "b")] string sender)
    {
        // Suspicion would take a minute: only holding the window removes c (reported by the sender; by the coordinator
        // a itself, or — when b sends — by a on b's request).
        var (a, b, c) = await StartThree(suspect: TimeSpan.FromSeconds(60), slow: TimeSpan.FromSeconds(1));
        var (from, to) = sender == "a" ? (a, b) : (b, a);
        BlockOnFirstBroadcast(c);

        var broadcasts = BroadcastFiveMiB(from);
        var unicasts = Enumerable.Range(0, 50).Select(i => from.Channel.SendAsync(to.Id, Encoding.UTF8.GetBytes($"u{i}")).AsTask()).ToArray();

        await Eventually.Within(Task.WhenAll(unicasts), "the unicasts");
        await Eventually.Until(() => !a.Channel.View.Contains("c") && !b.Channel.View.Contains("c"), "c removed from the view");
        await Eventually.Within(Task.WhenAll(broadcasts), "every broadcast sent once c no longer holds the window", TimeSpan.FromSeconds(60));
        await Eventually.Until(() => to.Handler.CountFrom(from.Id) == Messages, "every broadcast delivered");
        var got = to.Handler.From(from.Id).Select(m => BitConverter.ToInt32(m.Payload)).ToArray();
        Assert.That(got, Is.EqualTo(Enumerable.Range(0, Messages)), "once each, in order");
        Assert.That(from.Channel.Counters.SlowMembers, Is.GreaterThanOrEqualTo(1), "the sender reported c");

        // Unstuck, c finds it was removed, is told so, and joins again.
        _release.Set();
        await Eventually.Until(() => c.Handler.Exclusions.Count > 0, "c is told it was excluded");
        await Eventually.Until(() => _nodes.All.All(n => n.Channel.View.Members.Count == 3 && n.Channel.View.Id == a.Channel.View.Id), "c back in the view");
        Assert.That(c.Channel.View.Id, Is.GreaterThan(c.Handler.Exclusions[^1].Id));
    }

    [Test]
    public async Task StuckHandler_WithoutTraffic_IsSuspectedAlthoughItsTimerStillHeartbeats()
    {
        var (a, b, c) = await StartThree(suspect: TimeSpan.FromSeconds(1));
        BlockOnFirstBroadcast(c);
        var heartbeats = c.Channel.Counters.DatagramsSent;

        await a.Channel.BroadcastAsync(new byte[1]);

        // On a starved machine every late timer of a and b is credited to c's silence (their own stalls): slower, not never.
        await Eventually.Until(() => !a.Channel.View.Contains("c") && !b.Channel.View.Contains("c"), "c removed from the view", TimeSpan.FromSeconds(60));
        Assert.That(c.Channel.Counters.DatagramsSent, Is.GreaterThan(heartbeats + 5), "c's timer went on sending");
        Assert.That(a.Channel.Counters.SlowMembers, Is.Zero, "removed for its stuck receive thread, not for holding a window");
    }
}
