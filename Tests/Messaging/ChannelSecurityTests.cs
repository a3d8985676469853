using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Moq;
using Multicast.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>Authentication, encryption and hostile datagrams, on the in-memory network (which can inject and tap).</summary>
public sealed class ChannelSecurityTests
{
    private readonly List<ReliableGroupChannel> _channels = [];
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub() => _hub = new InMemoryHub(seed: 3);

    [TearDown]
    public async Task DisposeChannels()
    {
        foreach (var channel in _channels)
            await channel.DisposeAsync();
        _channels.Clear();
    }

    private static GroupChannelOptions Options(string nodeId, string? key = "security-tests-key-0123456789", bool encrypt = false) => new()
    {
        ClusterId = "security",
        NodeId = nodeId,
        ClusterKey = key,
        Encrypt = encrypt,
        HeartbeatInterval = TimeSpan.FromMilliseconds(50),
        SuspectTimeout = TimeSpan.FromSeconds(5),
        JoinTimeout = TimeSpan.FromMilliseconds(200),
        JoinRetryInterval = TimeSpan.FromMilliseconds(30),
    };

    private async Task<(ReliableGroupChannel Channel, CollectingHandler Handler, InMemoryTransport Transport)> Start(GroupChannelOptions options)
    {
        var transport = _hub.CreateTransport();
        var channel = new ReliableGroupChannel(transport, options);
        _channels.Add(channel);
        var handler = new CollectingHandler();
        await Eventually.Within(channel.StartAsync(handler).AsTask(), $"{options.NodeId} to join");
        return (channel, handler, transport);
    }

    [Test]
    public async Task HostileDatagrams_WhileTrafficFlows_AreRejectedAndCountedAndNothingIsLost()
    {
        var a = await Start(Options("a"));
        var b = await Start(Options("b"));
        await Eventually.Until(() => a.Channel.View.Members.Count == 2 && b.Channel.View.Members.Count == 2, "both in one view");
        var captured = new ConcurrentQueue<byte[]>();
        _hub.Tap = (from, _, bytes) =>
        {
            if (from == a.Transport.LocalAddress && captured.Count < 200)
                captured.Enqueue(bytes);
        };
        const int n = 500;
        var random = new Random(5);

        for (var i = 0; i < n; i++)
        {
            _ = a.Channel.BroadcastAsync(Encoding.UTF8.GetBytes($"m{i}"));
            if (i % 10 != 5 || !captured.TryPeek(out var sample))
                continue;
            _hub.Inject(b.Transport.LocalAddress, sample); // replay
            var forged = (byte[])sample.Clone();
            forged[^20] ^= 0x55;
            _hub.Inject(b.Transport.LocalAddress, forged);
            _hub.Inject(b.Transport.LocalAddress, sample.AsSpan(0, sample.Length - 3)); // truncated
            _hub.Inject(b.Transport.LocalAddress, sample.AsSpan(0, 40)); // shorter than a header
            var garbage = new byte[random.Next(1, 1400)];
            random.NextBytes(garbage);
            _hub.Inject(b.Transport.LocalAddress, garbage);
            _hub.Inject(b.Transport.LocalAddress, new byte[GroupChannelOptions.DefaultDatagramSize + 1]);
        }

        await Eventually.Until(() => b.Handler.CountFrom("a") >= n, "every message arrives");
        Assert.That(b.Handler.From("a").Select(m => Encoding.UTF8.GetString(m.Payload)), Is.EqualTo(Enumerable.Range(0, n).Select(i => $"m{i}")));
        var counters = b.Channel.Counters;
        Assert.Multiple(() =>
        {
            Assert.That(counters.RejectedReplayed, Is.GreaterThan(0), "replayed");
            Assert.That(counters.RejectedForged, Is.GreaterThan(0), "forged");
            Assert.That(counters.RejectedMalformed, Is.GreaterThan(0), "truncated and garbage");
            Assert.That(counters.RejectedOversize, Is.GreaterThan(0), "oversize");
        });
    }

    [Test]
    public async Task Datagrams_WithoutTheClusterKey_AreRejectedAsForged()
    {
        var a = await Start(Options("a"));
        var intruder = await Start(Options("intruder", key: "another-key-entirely-0123456"));

        await intruder.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("let me in"));

        await Eventually.Until(() => a.Channel.Counters.RejectedForged > 0, "the intruder's datagrams are rejected");
        Assert.That(a.Channel.View.Members.Select(m => m.NodeId), Is.EqualTo(new[] { "a" }));
        Assert.That(a.Handler.Count, Is.Zero);
    }

    [Test]
    public async Task Payload_OnTheWire_IsHiddenOnlyWhenEncrypted([Values(true, false)] bool encrypt)
    {
        var a = await Start(Options("a", encrypt: encrypt));
        var b = await Start(Options("b", encrypt: encrypt));
        await Eventually.Until(() => a.Channel.View.Members.Count == 2, "both in one view");
        var secret = Encoding.UTF8.GetBytes("the-secret-session-value");
        var wire = new ConcurrentQueue<byte[]>();
        _hub.Tap = (_, _, bytes) => wire.Enqueue(bytes);

        await a.Channel.BroadcastAsync(secret);

        await Eventually.Until(() => b.Handler.CountFrom("a") == 1, "delivery");
        Assert.That(b.Handler.From("a")[0].Payload, Is.EqualTo(secret));
        var visible = wire.Any(d => d.AsSpan().IndexOf(secret) >= 0);
        Assert.That(visible, Is.EqualTo(!encrypt));
    }

    [Test]
    public async Task StartAsync_WithoutClusterKey_LogsAWarning([Values(true, false)] bool keyed)
    {
        var logger = new Mock<ILogger>();
        logger.Setup(l => l.IsEnabled(It.IsAny<LogLevel>())).Returns(true);
        var loggers = new Mock<ILoggerFactory>();
        loggers.Setup(f => f.CreateLogger(It.IsAny<string>())).Returns(logger.Object);
        var sut = new ReliableGroupChannel(_hub.CreateTransport(), Options("alone", key: keyed ? "security-tests-key-0123456789" : null), loggers: loggers.Object);
        _channels.Add(sut);

        await Eventually.Within(sut.StartAsync(new CollectingHandler()).AsTask(), "the start");

        logger.Verify(l => l.Log(LogLevel.Warning, It.IsAny<EventId>(), It.Is<It.IsAnyType>((state, _) => state.ToString()!.Contains("no Cluster:ClusterKey", StringComparison.Ordinal)),
            It.IsAny<Exception?>(), It.IsAny<Func<It.IsAnyType, Exception?, string>>()), keyed ? Times.Never() : Times.Once());
    }

    [Test]
    public async Task Handler_Throws_IsCountedAndTheReceiveThreadContinues()
    {
        var a = await Start(Options("a"));
        var b = await Start(Options("b"));
        await Eventually.Until(() => a.Channel.View.Members.Count == 2, "both in one view");
        b.Handler.OnReceived = (_, _, payload, _) =>
        {
            if (payload[0] == (byte)'!')
                throw new InvalidOperationException("handler bug");
        };

        await a.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("!boom"));
        await a.Channel.BroadcastAsync(Encoding.UTF8.GetBytes("fine"));

        await Eventually.Until(() => b.Handler.CountFrom("a") == 2, "both messages reach the handler");
        Assert.That(b.Channel.Counters.HandlerErrors, Is.EqualTo(1));
    }
}
