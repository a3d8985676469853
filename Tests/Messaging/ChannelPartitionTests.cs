using System.Diagnostics;
using Multicast.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>
/// A member cut off from the other two — both ways, only its incoming side (it hears nobody) or only its outgoing side
/// (nobody hears it) — learns that it is alone: it ends in a view of itself only (after being told it was excluded, when
/// the others' view without it reaches it), so the store above it can stop acknowledging writes; when both directions
/// are cut the other two go on in a view without it; after healing all three are one group again. Issue 10, N10: over
/// UDP a cut-off node kept its three-member view, because its own view datagram was dropped with the rest of its UDP
/// (the UDP transport now hands datagrams to itself over in the process; the real partition is in
/// <c>UdpPartitionTests</c>).
/// </summary>
public sealed class ChannelPartitionTests
{
    private static readonly TimeSpan Suspect = TimeSpan.FromSeconds(1);

    private InMemoryChannelNodes _nodes = null!;
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub()
    {
        _nodes = new InMemoryChannelNodes(seed: 31, "partition", o =>
        {
            o.SuspectTimeout = Suspect;
            o.SendTimeout = TimeSpan.FromSeconds(2);
        });
        _hub = _nodes.Hub;
    }

    [TearDown]
    public async Task DisposeNodes() => await _nodes.DisposeAsync();

    public enum Cut
    {
        BothWays,
        Incoming,
        Outgoing,
    }

    [Test]
    public async Task CutOffMember_EndsInAViewOfItselfAndRejoinsAfterHealing([Values] Cut cut)
    {
        var a = await _nodes.StartWithTransportAsync("a");
        var b = await _nodes.StartWithTransportAsync("b");
        var c = await _nodes.StartWithTransportAsync("c");
        await Eventually.Until(() => _nodes.All.All(n => n.Channel.View.Members.Count == 3 && n.Channel.View.Id == a.Channel.View.Id), "one view of three");
        var viewsBefore = c.Handler.Views.Count;
        var clock = Stopwatch.StartNew();
        var (ca, cb, cc) = (a.Transport.LocalAddress, b.Transport.LocalAddress, c.Transport.LocalAddress);
        switch (cut)
        {
            case Cut.BothWays:
                _hub.Partition(cc);
                break;
            case Cut.Incoming:
                _hub.BlockLink(ca, cc);
                _hub.BlockLink(cb, cc);
                break;
            case Cut.Outgoing:
                _hub.BlockLink(cc, ca);
                _hub.BlockLink(cc, cb);
                break;
        }

        // The cut-off member is told: a view without the others (after an exclusion when their view reached it).
        bool Alone() => c.Handler.Views.Skip(viewsBefore).Any(v => v.Members.Count == 1 && v.Members[0].NodeId == "c");
        await Eventually.Until(Alone, "c installs a view of itself only", () => $"c's views: {string.Join(", ", c.Handler.Views)}");
        TestContext.Out.WriteLine($"{cut}: c alone after {clock.Elapsed.TotalMilliseconds:0} ms (SuspectTimeout {Suspect.TotalMilliseconds:0} ms); "
            + $"excluded {c.Handler.Exclusions.Count}x; c's views after the cut: {string.Join(", ", c.Handler.Views.Skip(viewsBefore))}");
        if (cut != Cut.Incoming)
        {
            // The others no longer hear it: they go on without it. (When only its incoming side is cut they still hear it,
            // and whether they keep it is theirs to decide: it is the member that hears nobody that must know.)
            await Eventually.Until(() => a.Channel.View.Members.Count == 2 && b.Channel.View.Members.Count == 2, "a and b in a view without c");
        }

        _hub.Heal();
        await Eventually.Until(() => _nodes.All.All(n => n.Channel.View.Members.Count == 3 && n.Channel.View.Id == a.Channel.View.Id),
            "one view of three after healing", () => string.Join("; ", _nodes.All.Select(n => n.Channel.View.ToString())));
        Assert.That(c.Channel.View.Members.Select(m => m.NodeId), Is.EquivalentTo(new[] { "a", "b", "c" }));
    }
}
