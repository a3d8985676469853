using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Transports.InMemory;

/// <summary>The hub's faults aimed at one member: one-way cuts, pause, slow deliveries, crash.</summary>
public sealed partial class InMemoryTransportTests
{
    private static byte[] Firsts(Recorder recorder) => [.. recorder.Received.Select(d => d[0])];

    [Test]
    public async Task HubBlockLink_OneDirection_TheOtherStillFlows()
    {
        var hub = new InMemoryHub();
        var a = await Start(hub);
        var b = await Start(hub);
        hub.BlockLink(a.Transport.LocalAddress, b.Transport.LocalAddress);

        a.Transport.SendTo(b.Transport.LocalAddress, [1]);
        b.Transport.SendTo(a.Transport.LocalAddress, [2]);

        await Eventually.Until(() => a.Recorder.Received.Count == 1, "b reaches a");
        Assert.That(b.Recorder.Received, Is.Empty, "a does not reach b");
        Assert.That(hub.Dropped, Is.EqualTo(1));

        hub.Heal();
        a.Transport.SendTo(b.Transport.LocalAddress, [3]);
        await Eventually.Until(() => b.Recorder.Received.Count == 1, "healed: a reaches b");
    }

    [Test]
    public async Task HubPause_HoldsBothDirections_AndResumeDeliversInOrder()
    {
        var hub = new InMemoryHub();
        var a = await Start(hub);
        var b = await Start(hub);
        Assert.That(hub.Pause(a.Transport.LocalAddress), Is.True);

        a.Transport.SendTo(b.Transport.LocalAddress, [1]);
        a.Transport.SendToGroup([2]);
        b.Transport.SendTo(a.Transport.LocalAddress, [3]);
        b.Transport.SendTo(a.Transport.LocalAddress, [4]);
        // A datagram b sends after a's held ones proves nothing of a's was delivered meanwhile.
        b.Transport.SendTo(b.Transport.LocalAddress, [9]);
        await Eventually.Until(() => b.Recorder.Received.Any(d => d[0] == 9), "b's own datagram");
        Assert.That(Firsts(b.Recorder), Is.EqualTo(new byte[] { 9 }), "nothing leaves a paused member");
        Assert.That(a.Recorder.Received, Is.Empty, "a paused member takes nothing");

        Assert.That(hub.Resume(a.Transport.LocalAddress), Is.True);

        await Eventually.Until(() => a.Recorder.Received.Count == 2 && b.Recorder.Received.Count == 3, "held datagrams flow");
        Assert.That(Firsts(a.Recorder), Is.EqualTo(new byte[] { 3, 4 }));
        Assert.That(Firsts(b.Recorder), Is.EqualTo(new byte[] { 9, 1, 2 }));
    }

    [Test]
    public async Task HubCrash_DropsEverythingFromAndToTheMember()
    {
        var hub = new InMemoryHub();
        var a = await Start(hub);
        var b = await Start(hub);
        hub.Crash(a.Transport.LocalAddress);

        a.Transport.SendTo(b.Transport.LocalAddress, [1]);
        b.Transport.SendTo(a.Transport.LocalAddress, [2]);
        b.Transport.SendTo(b.Transport.LocalAddress, [3]);

        await Eventually.Until(() => b.Recorder.Received.Count == 1, "b's own datagram");
        Assert.That(Firsts(b.Recorder), Is.EqualTo(new byte[] { 3 }));
        Assert.That(a.Recorder.Received, Is.Empty);
        Assert.That(hub.Dropped, Is.EqualTo(2));
    }

    [Test]
    public async Task HubSetDelay_OnOneMember_OthersAreNotDelayed()
    {
        var hub = new InMemoryHub();
        var a = await Start(hub);
        var slow = await Start(hub);
        var fast = await Start(hub);
        hub.SetDelay(slow.Transport.LocalAddress, TimeSpan.FromHours(1));

        a.Transport.SendToGroup([1]);

        await Eventually.Until(() => fast.Recorder.Received.Count == 1, "the other member receives at once");
        Assert.That(slow.Recorder.Received, Is.Empty, "the slow member's copy is still on its way");
    }

    [Test]
    public async Task HubSetReceiveCost_OnAStartedMember_IsAccepted()
    {
        var hub = new InMemoryHub();
        var a = await Start(hub);
        var b = await Start(hub);

        Assert.That(hub.SetReceiveCost(b.Transport.LocalAddress, TimeSpan.FromMilliseconds(1)), Is.True);
        Assert.That(hub.SetReceiveCost("mem://nobody", TimeSpan.FromMilliseconds(1)), Is.False);
        for (var i = 0; i < 5; i++)
            a.Transport.SendTo(b.Transport.LocalAddress, [(byte)i]);

        await Eventually.Until(() => b.Recorder.Received.Count == 5, "a slow handler still receives everything");
    }
}
