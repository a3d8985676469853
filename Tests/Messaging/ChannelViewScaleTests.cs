using Multicast.Messaging;
using Multicast.Messaging.Internal;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>Views (and joins) of any size, and ring indexes unique within a view.</summary>
public sealed class ChannelViewScaleTests
{
    private InMemoryChannelNodes _nodes = null!;
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub()
    {
        _nodes = new InMemoryChannelNodes(seed: 21, "scale", o =>
        {
            o.HeartbeatInterval = TimeSpan.FromMilliseconds(100);
            o.SuspectTimeout = TimeSpan.FromSeconds(20);
            o.JoinTimeout = TimeSpan.FromMilliseconds(300);
            o.JoinRetryInterval = TimeSpan.FromMilliseconds(50);
            o.SendTimeout = TimeSpan.FromSeconds(2);
        });
        _hub = _nodes.Hub;
    }

    [TearDown]
    public async Task DisposeNodes()
    {
        // All at once: 120 members leaving one by one would wait for a view change each. The fixture then checks them (a
        // second dispose does nothing).
        await Task.WhenAll(_nodes.All.Select(n => n.Channel.DisposeAsync().AsTask()));
        await _nodes.DisposeAsync();
    }

    /// <summary>Like the fixture's start, but waits up to a minute for the join: many members join on a shared machine.</summary>
    private async Task<(ReliableGroupChannel Channel, CollectingHandler Handler, InMemoryTransport Transport)> Start(string id, Action<GroupChannelOptions>? configure = null)
    {
        var transport = _hub.CreateTransport();
        var (channel, handler) = _nodes.Create(id, transport, configure);
        await Eventually.Within(channel.StartAsync(handler).AsTask(), $"{id} to join", TimeSpan.FromSeconds(60));
        return (channel, handler, transport);
    }

    private async Task OneViewOf(int count, int seconds = 60)
    {
        try
        {
            await Eventually.Until(() =>
            {
                var nodes = _nodes.All;
                return nodes.Count == count && nodes.All(n => n.Channel.View.Members.Count == count && n.Channel.View.Id == nodes[0].Channel.View.Id);
            }, $"one view of all {count}", TimeSpan.FromSeconds(seconds));
        }
        finally
        {
            // Which views the members hold (shown with a failure).
            TestContext.Out.WriteLine(string.Join(", ", _nodes.All.GroupBy(n => (n.Channel.View.Id, n.Channel.View.Members.Count, Coordinator: n.Channel.View.Members.Count > 0 ? n.Channel.View.Coordinator.NodeId : "-"))
                .Select(g => $"view {g.Key.Id} of {g.Key.Count} by {g.Key.Coordinator}: {g.Count()} members")));
        }
    }

    /// <summary>Two node ids whose 16-bit ring hashes collide.</summary>
    private static (string First, string Second) CollidingIds()
    {
        var seen = new Dictionary<int, string>();
        for (var i = 0; ; i++)
        {
            var id = $"node-{i}";
            if (seen.TryGetValue(Member.RingIndexOf(id), out var other))
                return (other, id);
            seen[Member.RingIndexOf(id)] = id;
        }
    }

    [Test]
    public async Task StartAsync_TwoNodeIdsWithTheSameRingHash_GetDistinctIndexesAndTheFirstKeepsItsHash()
    {
        var (first, second) = CollidingIds();
        var hash = Member.RingIndexOf(first);

        var a = await Start(first);
        var b = await Start(second);
        await Start("other");
        await OneViewOf(3);

        var rings = _nodes.All.Select(n => n.Channel.View.Members.Select(m => (m.NodeId, m.RingIndex)).ToArray()).ToArray();
        Assert.That(rings, Has.All.EqualTo(rings[0]), "every member sees the same ring indexes");
        var view = a.Channel.View;
        Assert.That(view.Members.Select(m => m.RingIndex), Is.Unique);
        Assert.That(view.Find(first)!.RingIndex, Is.EqualTo(hash), "the member that was there first keeps its index");
        Assert.That(view.Find(second)!.RingIndex, Is.EqualTo((hash + 1) & 0xFFFF), "the next one takes the next free index");
        Assert.That(view.ActingOwner(hash)!.NodeId, Is.EqualTo(first));
        Assert.That(b.Channel.LocalMember.RingIndex, Is.EqualTo((hash + 1) & 0xFFFF), "the local member carries its assigned index");
    }

    [Test]
    public async Task StartAsync_RestartOfTheFirstOfTwoCollidingNodes_KeepsItsRingIndex()
    {
        var (first, second) = CollidingIds();
        var a = await Start(first);
        await Start(second);
        await OneViewOf(2);
        var index = a.Channel.LocalMember.RingIndex;

        await a.Transport.DisposeAsync(); // crash
        var restarted = await Start(first);

        await Eventually.Until(() => _nodes.All[1].Channel.View.Find(first) is { } m && m.Incarnation == restarted.Channel.LocalMember.Incarnation,
            "the new incarnation in the view");
        Assert.That(restarted.Channel.LocalMember.RingIndex, Is.EqualTo(index));
        Assert.That(_nodes.All[1].Channel.View.Members.Select(m => m.RingIndex), Is.Unique);
    }

    [Test]
    public async Task StartAsync_OneHundredTwentyMembers_OneViewLargerThanADatagramWithUniqueRingIndexes()
    {
        const int count = 120;
        await Start("m0", o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(500));
        await Task.WhenAll(Enumerable.Range(1, count - 1).Select(i => Start($"m{i}", o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(500))));
        await OneViewOf(count, seconds: 180); // 120 receive threads in one process on a shared 2-core machine

        var view = _nodes.All[0].Channel.View;
        Assert.That(ViewCodec.EncodeView(view).Length, Is.GreaterThan(GroupChannelOptions.DefaultDatagramSize), "the view needs several datagrams");
        Assert.That(view.Members.Select(m => m.RingIndex), Is.Unique);
        Assert.That(view.RingOrder, Has.Count.EqualTo(count));

        await _nodes.All[^1].Channel.LeaveAsync();
        await Eventually.Until(() => _nodes.All.Take(count - 1).All(n => n.Channel.View.Members.Count == count - 1), "the view after one leaves", TimeSpan.FromSeconds(180));
    }

    [Test]
    public async Task StartAsync_SmallDatagramsAndLongPublicAddresses_JoinsAndViewsAreFragmented()
    {
        var publicAddress = "https://" + new string('p', 180) + ".example";
        void Small(GroupChannelOptions o)
        {
            o.DatagramSize = GroupChannelOptions.MinDatagramSize;
            o.PublicAddress = publicAddress;
            o.ClusterKey = "scale-tests-key-0123456789";
        }

        await Start("a", Small);
        await Start("b", Small);
        await Start("c", Small);
        await OneViewOf(3);

        Assert.That(_nodes.All[2].Channel.View.Members.Select(m => m.PublicAddress), Has.All.EqualTo(publicAddress));
        var seq = await _nodes.All[0].Channel.BroadcastAsync(new byte[1000]);
        await Eventually.Within(_nodes.All[0].Channel.WaitForAcksAsync(seq, 2), "acks");
    }

    [Test]
    public void ControlAssembler_FragmentsOutOfOrderDuplicatedAndFromRepeatedCopies_ReassembleTheView()
    {
        var members = Enumerable.Range(0, 300).Select(i => new Member($"member-{i}", 1000 + i, $"10.0.{i / 256}.{i % 256}:5000", $"http://node{i}:8080")).ToArray();
        var bytes = ViewCodec.EncodeView(new MembershipView(42, members));
        const int capacity = 1300;
        var count = ControlAssembler.FragmentCount(bytes.Length, capacity);
        var chunk = ControlAssembler.ChunkSize(bytes.Length, count);
        var sut = new ControlAssembler();
        var sender = new MemberKey(7, 7);
        var random = new Random(3);
        byte[]? whole = null;

        // Two lossy copies: each fragment is lost from one copy or the other, never from both.
        var order = Enumerable.Range(0, count).OrderBy(_ => random.Next()).ToArray();
        foreach (var copy in new[] { 0, 1 })
        {
            foreach (var i in order)
            {
                if (i % 2 == copy)
                    continue;
                for (var dup = 0; dup < 2; dup++)
                {
                    var header = new PacketHeader { Kind = PacketKind.View, Sequence = 42, MessageSequence = bytes.Length, FragmentIndex = (uint)i, FragmentCount = (uint)count };
                    var part = bytes.AsSpan(i * chunk, Math.Min(chunk, bytes.Length - i * chunk));
                    if (sut.Add(sender, header, part, ControlAssembler.MaxFragments * 1400, out var message) == AssemblyResult.Complete)
                        whole = message;
                }
            }
        }

        Assert.That(count, Is.GreaterThan(10));
        Assert.That(whole, Is.Not.Null);
        Assert.That(ViewCodec.TryDecodeView(whole, out var id, out var decoded), Is.True);
        Assert.That(id, Is.EqualTo(42));
        Assert.That(decoded, Is.EqualTo(members));
    }

    [Test]
    public void ControlAssembler_FragmentContradictingItsHeader_IsMalformed()
    {
        var sut = new ControlAssembler();
        var header = new PacketHeader { Kind = PacketKind.View, Sequence = 1, MessageSequence = 1000, FragmentIndex = 0, FragmentCount = 4 };

        Assert.That(sut.Add(new MemberKey(1, 1), header, new byte[10], 100_000, out _), Is.EqualTo(AssemblyResult.Malformed), "wrong length");
        header.FragmentCount = ControlAssembler.MaxFragments + 1;
        Assert.That(sut.Add(new MemberKey(1, 1), header, new byte[10], 100_000, out _), Is.EqualTo(AssemblyResult.Malformed), "too many fragments");
        header.FragmentCount = 4;
        header.MessageSequence = 10_000_000;
        Assert.That(sut.Add(new MemberKey(1, 1), header, new byte[2_500_000], 100_000, out _), Is.EqualTo(AssemblyResult.Malformed), "too large");
    }
}
