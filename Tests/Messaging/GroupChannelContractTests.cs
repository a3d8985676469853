using System.Text;
using Multicast.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transport;

namespace Multicast.Tests.Messaging;

/// <summary>
/// The guarantees of <see cref="IGroupChannel"/>, run over every transport: subclass it and create transports
/// on one network (as Orleans' MembershipTableTestsBase does for membership tables).
/// </summary>
public abstract class GroupChannelContractTests
{
    private readonly List<Node> _nodes = [];

    /// <summary>A new, not yet started transport on this test's network. Called several times per test.</summary>
    protected abstract ITransport CreateTransport();

    /// <summary>How many messages each sender sends in the ordering test.</summary>
    protected virtual int MessagesPerSender => 1000;

    /// <summary>Options with short timers, so that joins and suspicion take fractions of a second.</summary>
    protected virtual GroupChannelOptions CreateOptions(string nodeId) => new()
    {
        ClusterId = "contract",
        NodeId = nodeId,
        ClusterKey = "contract-tests-key-0123456789",
        HeartbeatInterval = TimeSpan.FromMilliseconds(50),
        SuspectTimeout = TimeSpan.FromMilliseconds(1500),
        JoinTimeout = TimeSpan.FromMilliseconds(300),
        JoinRetryInterval = TimeSpan.FromMilliseconds(30),
        SendTimeout = TimeSpan.FromSeconds(30),
    };

    protected sealed record Node(string Id, ReliableGroupChannel Channel, CollectingHandler Handler, ITransport Transport);

    [TearDown]
    public async Task DisposeNodes()
    {
        foreach (var node in _nodes)
        {
            Assert.That(node.Handler.ContractViolation, Is.Null, $"{node.Id}'s handler");
            TestContext.Out.WriteLine($"{node.Id}: {node.Channel.Counters}");
            await node.Channel.DisposeAsync();
        }
        _nodes.Clear();
    }

    protected async Task<Node> StartNode(string nodeId, Action<GroupChannelOptions>? configure = null)
    {
        var transport = CreateTransport();
        var options = CreateOptions(nodeId);
        configure?.Invoke(options);
        var channel = new ReliableGroupChannel(transport, options, loggers: TestLogging.Factory);
        var node = new Node(nodeId, channel, new CollectingHandler(), transport);
        _nodes.Add(node);
        await Eventually.Within(channel.StartAsync(node.Handler).AsTask(), $"{nodeId} to join");
        return node;
    }

    protected async Task<Node[]> StartGroup(int count, Action<GroupChannelOptions>? configure = null, string prefix = "node")
    {
        var nodes = new Node[count];
        for (var i = 0; i < count; i++)
            nodes[i] = await StartNode($"{prefix}{i}", configure);
        await AllSee(nodes);
        return nodes;
    }

    /// <summary>Waits until every node has installed one view made of exactly <paramref name="nodes"/>.</summary>
    protected static Task AllSee(params Node[] nodes)
    {
        var expected = nodes.Select(n => n.Channel.LocalMember).ToHashSet();
        return Eventually.Until(() =>
        {
            var views = nodes.Select(n => n.Channel.View).ToArray();
            return views.All(v => v.Id == views[0].Id && v.Members.ToHashSet().SetEquals(expected));
        }, $"every node installs one view of [{string.Join(", ", expected)}]");
    }

    private static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

    [Test]
    public async Task BroadcastAsync_SeveralSendersConcurrently_EachMessageDeliveredOnceInSenderOrderToEveryOtherMember()
    {
        var nodes = await StartGroup(3);
        var n = MessagesPerSender;

        await Task.WhenAll(nodes.Select(node => Task.Run(async () =>
        {
            var random = new Random(node.Id.GetHashCode(StringComparison.Ordinal));
            var sends = new List<ValueTask<long>>(n);
            for (var i = 0; i < n; i++)
                sends.Add(node.Channel.BroadcastAsync(Text($"{node.Id}:{i}:{new string('x', random.Next(0, 300))}")));
            foreach (var send in sends)
                await send;
        })));

        foreach (var receiver in nodes)
        {
            foreach (var sender in nodes.Where(s => s != receiver))
            {
                await Eventually.Until(() => receiver.Handler.CountFrom(sender.Id) >= n, $"{receiver.Id} has {n} from {sender.Id}");
            }
        }
        foreach (var receiver in nodes)
        {
            Assert.That(receiver.Handler.CountFrom(receiver.Id), Is.Zero, $"{receiver.Id} must not deliver its own broadcasts");
            foreach (var sender in nodes.Where(s => s != receiver))
            {
                var got = receiver.Handler.From(sender.Id);
                var indexes = got.Select(m => int.Parse(Encoding.UTF8.GetString(m.Payload).Split(':')[1], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
                Assert.That(indexes, Is.EqualTo(Enumerable.Range(0, n)), $"{receiver.Id} from {sender.Id}: once each, in order");
                Assert.That(got.Select(m => m.Sequence), Is.Ordered.Ascending.And.Unique);
            }
        }
    }

    [Test]
    public async Task SendAsync_UnicastBothWays_ExactlyOnceInOrderOnlyToTheAddressee()
    {
        var (a, b, c) = await StartThree();
        const int n = 300;

        var sends = new List<Task>();
        for (var i = 0; i < n; i++)
        {
            sends.Add(a.Channel.SendAsync(b.Id, Text($"a{i}")).AsTask());
            sends.Add(b.Channel.SendAsync(a.Id, Text($"b{i}")).AsTask());
        }
        await Eventually.Within(Task.WhenAll(sends), "the sends");

        await Eventually.Until(() => b.Handler.CountFrom(a.Id, unicast: true) >= n && a.Handler.CountFrom(b.Id, unicast: true) >= n, "both receive every unicast");
        Assert.That(b.Handler.From(a.Id, unicast: true).Select(m => Encoding.UTF8.GetString(m.Payload)), Is.EqualTo(Enumerable.Range(0, n).Select(i => $"a{i}")));
        Assert.That(a.Handler.From(b.Id, unicast: true).Select(m => Encoding.UTF8.GetString(m.Payload)), Is.EqualTo(Enumerable.Range(0, n).Select(i => $"b{i}")));
        Assert.That(c.Handler.Messages.Where(m => m.Unicast), Is.Empty, "unicasts reach only the addressee");
    }

    [Test]
    public async Task SendAsync_FromTheHandler_RepliesArriveInOrder()
    {
        var (a, b, _) = await StartThree();
        b.Handler.OnReceived = (sender, sequence, payload, unicast) =>
        {
            if (unicast)
                _ = b.Channel.SendAsync(sender.NodeId, payload); // fire-and-forget from the receive thread, like lock replies
        };
        const int n = 200;

        for (var i = 0; i < n; i++)
            _ = a.Channel.SendAsync(b.Id, Text($"ping{i}"));

        await Eventually.Until(() => a.Handler.CountFrom(b.Id, unicast: true) >= n, "every reply arrives");
        Assert.That(a.Handler.From(b.Id, unicast: true).Select(m => Encoding.UTF8.GetString(m.Payload)), Is.EqualTo(Enumerable.Range(0, n).Select(i => $"ping{i}")));
    }

    [Test]
    public async Task BroadcastAsync_LargeAndRandomSizes_ArriveIntact()
    {
        var (a, b, c) = await StartThree();
        var random = new Random(42);
        var sizes = new List<int> { 4 * 1024 * 1024, 0, 1 };
        sizes.AddRange(Enumerable.Range(0, 30).Select(_ => random.Next(0, 60_000)));
        var messages = sizes.Select(size =>
        {
            var bytes = new byte[size];
            random.NextBytes(bytes);
            return bytes;
        }).ToArray();

        foreach (var message in messages)
            await a.Channel.BroadcastAsync(message);

        foreach (var receiver in new[] { b, c })
        {
            await Eventually.Until(() => receiver.Handler.CountFrom(a.Id) >= messages.Length, $"{receiver.Id} gets every message");
            var got = receiver.Handler.From(a.Id);
            Assert.That(got, Has.Count.EqualTo(messages.Length));
            for (var i = 0; i < messages.Length; i++)
                Assert.That(got[i].Payload, Is.EqualTo(messages[i]), $"message {i} of {messages[i].Length} bytes");
        }
    }

    [Test]
    public async Task StartAsync_NewMember_EveryMemberInstallsTheViewWithIt()
    {
        var nodes = await StartGroup(2);
        var before = nodes[0].Channel.View.Id;

        var joiner = await StartNode("joiner");

        await AllSee([.. nodes, joiner]);
        Assert.That(joiner.Channel.View.Id, Is.GreaterThan(before));
        await Eventually.Until(() => nodes[0].Handler.LastView?.Contains("joiner") == true, "the handler is told");
        Assert.That(joiner.Handler.Views, Is.Not.Empty);
    }

    [Test]
    public async Task LeaveAsync_Graceful_PeersInstallAViewWithoutIt()
    {
        // Suspicion would take a minute: only the leave announcement can remove the member in time.
        var nodes = await StartGroup(3, o => o.SuspectTimeout = TimeSpan.FromSeconds(60));

        await nodes[0].Channel.LeaveAsync(); // the coordinator: its successor takes over

        await AllSee(nodes[1], nodes[2]);
        await Eventually.Until(() => nodes[1].Handler.LastView?.Contains(nodes[0].Id) == false, "the handler is told");
    }

    [Test]
    public async Task LeaveAsync_RightAfterSends_EverythingSentArrivesFirst()
    {
        var (a, b, c) = await StartThree();

        for (var i = 0; i < 200; i++)
        {
            _ = a.Channel.SendAsync(b.Id, Text($"u{i}"));
            _ = a.Channel.BroadcastAsync(Text($"b{i}"));
        }
        await a.Channel.LeaveAsync();

        await AllSee(b, c);
        Assert.That(b.Handler.From(a.Id, unicast: true).Select(m => Encoding.UTF8.GetString(m.Payload)), Is.EqualTo(Enumerable.Range(0, 200).Select(i => $"u{i}")));
        Assert.That(c.Handler.From(a.Id).Select(m => Encoding.UTF8.GetString(m.Payload)), Is.EqualTo(Enumerable.Range(0, 200).Select(i => $"b{i}")));
    }

    [Test]
    public async Task Crash_TransportStoppedWithoutLeave_MemberIsSuspectedAndRemoved([Values(0, 2)] int crashed)
    {
        var nodes = await StartGroup(3);
        var c = nodes[crashed]; // 0 is the coordinator: its successor must take over
        var (a, b) = crashed == 0 ? (nodes[1], nodes[2]) : (nodes[0], nodes[1]);
        var sequence = await a.Channel.BroadcastAsync(Text("before the crash"));
        await Eventually.Within(a.Channel.WaitForAcksAsync(sequence, 2), "acks from both");

        await c.Transport.DisposeAsync();
        var next = await a.Channel.BroadcastAsync(Text("after the crash"));
        var waiting = a.Channel.WaitForAcksAsync(next, 2);

        await AllSee(a, b);
        await Eventually.Within(waiting, "the wait to stop counting on the crashed member");
        Assert.That(b.Handler.From(a.Id).Select(m => Encoding.UTF8.GetString(m.Payload)), Does.Contain("after the crash"));
    }

    [Test]
    public async Task WaitForAcksAsync_AfterBroadcasts_CompletesOnceMembersDelivered()
    {
        var (a, b, c) = await StartThree();
        long last = 0;
        for (var i = 0; i < 50; i++)
            last = await a.Channel.BroadcastAsync(Text($"m{i}"));

        await Eventually.Within(a.Channel.WaitForAcksAsync(last, 2), "acks from both members");

        Assert.That(b.Handler.CountFrom(a.Id), Is.EqualTo(50));
        Assert.That(c.Handler.CountFrom(a.Id), Is.EqualTo(50));
        Assert.That(a.Channel.WaitForAcksAsync(last, 5).IsCompleted, Is.True, "asking for more members than remain waits for all of them");
    }

    [Test]
    public async Task BroadcastAsync_ReceiverNeverAcks_FaultsWithSendWindowFullException()
    {
        var nodes = await StartGroup(2, o =>
        {
            o.SendWindowBytes = 64 * 1024;
            o.MaxMessageBytes = 16 * 1024;
            o.SendTimeout = TimeSpan.FromMilliseconds(300);
            o.SuspectTimeout = TimeSpan.FromSeconds(60);
        });
        await nodes[1].Transport.DisposeAsync(); // alive in the view, never acknowledging

        var sends = new List<Task<long>>();
        for (var i = 0; i < 20; i++)
            sends.Add(nodes[0].Channel.BroadcastAsync(new byte[16 * 1024]).AsTask());

        Assert.That(sends.Any(s => !s.IsCompleted), Is.True, "a full window makes sends wait");
        var last = sends[^1];
        Assert.That(async () => await Eventually.Within(last, "the send timeout"), Throws.TypeOf<SendWindowFullException>());
        Assert.That(nodes[0].Channel.Counters.SendWindowTimeouts, Is.GreaterThan(0));
    }

    [Test]
    public async Task BroadcastAsync_MessagesLargerThanTheWindow_GoOutOneAtATimeAndArriveWhole()
    {
        var nodes = await StartGroup(3, o => o.SendWindowBytes = 64 * 1024);
        var big = new byte[300 * 1024];
        new Random(3).NextBytes(big);

        long last = 0;
        for (var i = 0; i < 3; i++)
            last = await nodes[0].Channel.BroadcastAsync(big);
        await Eventually.Within(nodes[0].Channel.WaitForAcksAsync(last, 2), "acks for the oversized messages");

        foreach (var receiver in nodes.Skip(1))
        {
            var got = receiver.Handler.From(nodes[0].Id).ToArray();
            Assert.That(got, Has.Length.EqualTo(3));
            Assert.That(got.All(m => m.Payload.AsSpan().SequenceEqual(big)), Is.True);
        }
    }

    [Test]
    public async Task Channels_OfTwoClustersOnOneNetwork_IgnoreEachOther()
    {
        var red = await StartGroup(2, o => o.ClusterId = "red", prefix: "red");
        var blue = await StartGroup(2, o => o.ClusterId = "blue", prefix: "blue");

        await red[0].Channel.BroadcastAsync(Text("red"));
        var seq = await blue[0].Channel.BroadcastAsync(Text("blue"));
        await Eventually.Within(blue[0].Channel.WaitForAcksAsync(seq, 1), "blue's ack");
        await Eventually.Until(() => red[1].Handler.Count == 1, "red's delivery");

        Assert.That(red[1].Handler.Messages.Select(m => m.Sender.NodeId), Is.EqualTo(new[] { "red0" }));
        Assert.That(blue[1].Handler.Messages.Select(m => m.Sender.NodeId), Is.EqualTo(new[] { "blue0" }));
        Assert.That(red[0].Channel.View.Members.Select(m => m.NodeId), Is.EquivalentTo(new[] { "red0", "red1" }));
        Assert.That(red.Concat(blue).Sum(n => n.Channel.Counters.RejectedForeignCluster), Is.GreaterThan(0));
    }

    [Test]
    public async Task StartAsync_JoinAfterTraffic_NewMemberReceivesFromItsJoinPointWithoutBlocking()
    {
        var nodes = await StartGroup(2);
        for (var i = 0; i < 100; i++)
            await nodes[0].Channel.BroadcastAsync(Text($"old{i}"));

        var joiner = await StartNode("late");
        await AllSee([.. nodes, joiner]);
        for (var i = 0; i < 10; i++)
        {
            await nodes[0].Channel.BroadcastAsync(Text($"new{i}"));
            await nodes[1].Channel.BroadcastAsync(Text($"new{i}"));
        }

        await Eventually.Until(() => joiner.Handler.CountFrom(nodes[0].Id) >= 10 && joiner.Handler.CountFrom(nodes[1].Id) >= 10, "the joiner gets the new messages");
        Assert.That(joiner.Handler.From(nodes[0].Id).Select(m => Encoding.UTF8.GetString(m.Payload)), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"new{i}")));
    }

    [Test]
    public async Task StartAsync_RestartedNode_NewIncarnationReplacesTheOld()
    {
        var (a, b, _) = await StartThree();
        var old = b.Channel.LocalMember;
        await b.Transport.DisposeAsync(); // crash without leave

        var restarted = await StartNode(b.Id);

        await Eventually.Until(() => a.Channel.View.Find(b.Id) is { } m && m.Incarnation == restarted.Channel.LocalMember.Incarnation,
            "the view holds the new incarnation");
        Assert.That(restarted.Channel.LocalMember.Incarnation, Is.GreaterThan(old.Incarnation));
        Assert.That(a.Channel.View.Members, Does.Not.Contain(old));
        await a.Channel.BroadcastAsync(Text("hello again"));
        await Eventually.Until(() => restarted.Handler.CountFrom(a.Id) == 1, "the new incarnation receives");
    }

    [Test]
    public async Task StartAsync_RestartedCoordinator_TheNextInLineAdmitsTheNewIncarnationWithoutWaitingForSuspicion()
    {
        // Suspicion would take a minute: only the restarted coordinator's own join can tell the others it is gone. (The
        // short send timeout bounds the crashed incarnation's leave at teardown, which nobody can confirm.)
        static void Configure(GroupChannelOptions o)
        {
            o.SuspectTimeout = TimeSpan.FromMinutes(1);
            o.SendTimeout = TimeSpan.FromSeconds(2);
        }
        var nodes = await StartGroup(3, Configure);
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        Assert.That(b.Channel.View.Coordinator, Is.EqualTo(a.Channel.LocalMember), "the first node coordinates");
        var old = a.Channel.LocalMember;
        await a.Transport.DisposeAsync(); // crash without leave

        var restarted = await StartNode(a.Id, Configure);

        await AllSee(b, c, restarted);
        Assert.That(b.Channel.View.Coordinator, Is.EqualTo(b.Channel.LocalMember), "the next in line coordinates");
        Assert.That(b.Channel.View.Members, Does.Not.Contain(old));
        await b.Channel.BroadcastAsync(Text("hello again"));
        await Eventually.Until(() => restarted.Handler.CountFrom(b.Id) == 1 && c.Handler.CountFrom(b.Id) == 1, "both receive");
    }

    private async Task<(Node A, Node B, Node C)> StartThree()
    {
        var nodes = await StartGroup(3);
        return (nodes[0], nodes[1], nodes[2]);
    }
}
