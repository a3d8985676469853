using System.Collections.Concurrent;
using System.Text;
using Multicast.Tests.TestSupport;
using Multicast.Transport;

namespace Multicast.Tests.Transports;

/// <summary>
/// The guarantees <see cref="ITransport"/> documents, run over every transport: subclass it, say how a transport on
/// this test's network is made and how raw bytes reach one from outside (as Orleans' MembershipTableTestsBase does
/// for membership tables). Per-transport fixtures keep only what is specific to their transport.
/// </summary>
/// <remarks>Transports are unreliable, so a test that needs a datagram to arrive sends it again until it has
/// (PUB/SUB, for one, drops until a subscription reaches the publisher); what it asserts never depends on a count of
/// sends.</remarks>
public abstract class TransportContractTests
{
    private readonly List<ITransport> _transports = [];

    /// <summary>A new, not yet started transport on this test's network; started transports reach each other.
    /// Called several times per test.</summary>
    protected abstract ITransport CreateTransport();

    /// <summary>Bytes that reach <paramref name="target"/> from outside, over its own wire (a raw UDP datagram, raw
    /// bytes on a TCP connection, the hub's injection), not through another transport's send: what a broken or
    /// hostile peer can send. Completes when the bytes were handed to the wire.</summary>
    protected abstract Task InjectRawAsync(ITransport target, byte[] bytes);

    /// <summary>A well-formed address in the transport's notation at which no member listens.</summary>
    protected abstract string UnreachableAddress { get; }

    /// <summary>The receive thread's name, or its start.</summary>
    protected abstract string ReceiveThreadName { get; }

    [TearDown]
    public async Task DisposeTransports()
    {
        foreach (var transport in _transports)
            await transport.DisposeAsync();
        _transports.Clear();
    }

    /// <summary>Creates and starts a transport with a recorder as its handler.</summary>
    protected async Task<(ITransport Transport, Recorder Handler)> StartAsync(Recorder? handler = null)
    {
        var transport = CreateTransport();
        _transports.Add(transport);
        handler ??= new Recorder();
        await Eventually.Within(transport.StartAsync(handler).AsTask(), "the transport to start");
        return (transport, handler);
    }

    /// <summary>Runs <paramref name="send"/>, then again every <see cref="ResendInterval"/> until <paramref name="condition"/> holds.</summary>
    protected static async Task SendUntil(Func<bool> condition, Action send, string what)
    {
        var deadline = DateTime.UtcNow + Eventually.DefaultTimeout;
        var resend = DateTime.MinValue;
        while (!condition())
        {
            var now = DateTime.UtcNow;
            if (now > deadline)
                Assert.Fail($"Timed out sending until {what}.");
            if (now >= resend)
            {
                send();
                resend = now + ResendInterval;
            }
            await Task.Delay(5);
        }
    }

    /// <summary>How long <see cref="SendUntil"/> waits for a datagram before it sends it again.</summary>
    private static readonly TimeSpan ResendInterval = TimeSpan.FromMilliseconds(50);

    [Test]
    public async Task SendToGroup_ThreeMembers_EveryOtherMemberReceivesIt()
    {
        var (sut, _) = await StartAsync();
        var (_, b) = await StartAsync();
        var (_, c) = await StartAsync();
        var datagram = "to the group"u8.ToArray();

        await SendUntil(() => b.Contains(datagram) && c.Contains(datagram), () => sut.SendToGroup(datagram), "both other members have the group datagram");

        Assert.That(b.Datagrams.Concat(c.Datagrams), Has.All.EqualTo(datagram), "nothing else arrived, nothing arrived torn");
    }

    [Test]
    public async Task SendTo_OneOfThreeMembers_OnlyThatMemberReceivesIt()
    {
        var (sut, own) = await StartAsync();
        var (target, targetHandler) = await StartAsync();
        var (_, other) = await StartAsync();
        var unicast = "only for the target"u8.ToArray();
        var marker = "group marker"u8.ToArray();

        await SendUntil(() => targetHandler.Contains(unicast), () => sut.SendTo(target.LocalAddress, unicast), "the target has the unicast datagram");
        // Sent after the unicast ones: once the others have it, a misrouted unicast datagram would have arrived too.
        await SendUntil(() => other.Contains(marker) && targetHandler.Contains(marker), () => sut.SendToGroup(marker), "the others have the group marker");

        Assert.That(other.Contains(unicast), Is.False, "the third member");
        Assert.That(own.Contains(unicast), Is.False, "the sender");
    }

    [Test]
    public async Task SendTo_OwnAddress_ReachesItsOwnHandler()
    {
        var (sut, own) = await StartAsync();
        var datagram = "to myself"u8.ToArray();

        await SendUntil(() => own.Contains(datagram), () => sut.SendTo(sut.LocalAddress, datagram), "the sender has its own datagram");

        Assert.That(own.Datagrams, Has.All.EqualTo(datagram));
    }

    [Test]
    public async Task Send_LargestDatagram_ArrivesWhole([Values(true, false)] bool group)
    {
        var (sut, _) = await StartAsync();
        var (peer, handler) = await StartAsync();
        var datagram = new byte[sut.MaxDatagramSize];
        Random.Shared.NextBytes(datagram);

        await SendUntil(() => handler.Count > 0, () =>
        {
            if (group)
                sut.SendToGroup(datagram);
            else
                sut.SendTo(peer.LocalAddress, datagram);
        }, $"the {datagram.Length}-byte datagram arrives");

        Assert.That(handler.Datagrams, Has.All.EqualTo(datagram));
    }

    [Test]
    public async Task Send_OneByteOverTheLargest_ThrowsArgumentExceptionAndSendsNothing()
    {
        var (sut, own) = await StartAsync();
        var (peer, handler) = await StartAsync();
        var oversize = new byte[sut.MaxDatagramSize + 1];
        var marker = "after the refusals"u8.ToArray();

        Assert.That(() => sut.SendToGroup(oversize), Throws.ArgumentException);
        Assert.That(() => sut.SendTo(peer.LocalAddress, oversize), Throws.ArgumentException);
        Assert.That(() => sut.SendTo(sut.LocalAddress, oversize), Throws.ArgumentException);
        await SendUntil(() => handler.Contains(marker) && own.Contains(marker), () =>
        {
            sut.SendTo(peer.LocalAddress, marker);
            sut.SendTo(sut.LocalAddress, marker);
        }, "the marker at both");

        Assert.That(handler.Datagrams.Concat(own.Datagrams), Has.All.EqualTo(marker), "no part of an oversize datagram arrived");
    }

    [Test]
    public async Task SendBatch_GroupPeerOrOwnAddress_EveryDatagramArrivesWhole([Values("group", "peer", "own")] string to)
    {
        var (sut, own) = await StartAsync();
        var (peer, handler) = await StartAsync();
        byte[][] batch = [[1], [2, 2], new byte[700], new byte[sut.MaxDatagramSize], [5, 5, 5]];
        batch[2][0] = 3;
        batch[3][0] = 4;
        var datagrams = batch.SelectMany(d => d).ToArray();
        var lengths = batch.Select(d => d.Length).ToArray();
        var target = to == "own" ? own : handler;

        await SendUntil(() => batch.All(target.Contains), () =>
        {
            if (to == "group")
                sut.SendBatchToGroup(datagrams, lengths);
            else
                sut.SendBatchTo(to == "own" ? sut.LocalAddress : peer.LocalAddress, datagrams, lengths);
        }, $"every datagram of the batch reaches {to}");

        Assert.That(target.Datagrams, Has.All.Matches<byte[]>(d => batch.Any(b => b.AsSpan().SequenceEqual(d))), "nothing torn, nothing merged");
    }

    [Test]
    public async Task Receive_AfterABurst_ReportsIdleAtMostOncePerDatagram()
    {
        var (sut, _) = await StartAsync();
        var (peer, handler) = await StartAsync();
        await SendUntil(() => handler.Count > 0, () => sut.SendTo(peer.LocalAddress, [0]), "the connection is up");
        var before = handler.Count;

        for (var i = 1; i <= 20; i++)
            sut.SendTo(peer.LocalAddress, [(byte)i]);

        await Eventually.Until(() => handler.Count >= before + 20 && handler.IdleReports >= 1, "the burst and an idle report");
        Assert.That(handler.IdleReports, Is.LessThanOrEqualTo(handler.Count), "at most one idle report per delivered datagram");
    }

    [Test]
    public async Task OnDatagram_GroupUnicastAndOwn_OnOneNamedDedicatedThreadOneAtATime()
    {
        var (sut, handler) = await StartAsync();
        var (peer, _) = await StartAsync();
        var group = "group"u8.ToArray();
        var unicast = "unicast"u8.ToArray();
        var own = "own"u8.ToArray();

        await SendUntil(() => handler.Contains(group), () => peer.SendToGroup(group), "the group datagram");
        await SendUntil(() => handler.Contains(unicast), () => peer.SendTo(sut.LocalAddress, unicast), "the unicast datagram");
        await SendUntil(() => handler.Contains(own), () => sut.SendTo(sut.LocalAddress, own), "the datagram to itself");

        var threads = handler.Threads.Distinct().ToArray();
        Assert.That(threads, Has.Length.EqualTo(1), "one thread delivers everything");
        Assert.That(threads[0].Name, Does.StartWith(ReceiveThreadName));
        Assert.That(threads[0].IsThreadPoolThread, Is.False, "a dedicated thread, not the thread pool");
        Assert.That(handler.MostAtOnce, Is.EqualTo(1), "one datagram at a time");
    }

    [Test]
    public async Task OnDatagram_HandlerThrows_LaterDatagramsStillArrive()
    {
        var (sut, handler) = await StartAsync(new Recorder { ThrowWhen = d => d.Length > 0 && d[0] == (byte)'!', ThrowOnIdle = true });
        var (peer, _) = await StartAsync();
        var after = "after the failures"u8.ToArray();

        await SendUntil(() => handler.Failures >= 3, () => peer.SendTo(sut.LocalAddress, "!boom"u8), "three handler failures");
        await SendUntil(() => handler.Contains(after), () => peer.SendTo(sut.LocalAddress, after), "a datagram after the failures");

        Assert.That(handler.Threads.Distinct().Single().IsAlive, Is.True, "the receive thread survived");
    }

    [Test]
    public async Task Receive_GarbageAndTruncatedInput_NeverStopsTheReceiveThread()
    {
        var (sut, handler) = await StartAsync();
        var (peer, _) = await StartAsync();
        var first = "before"u8.ToArray();
        var after = "after the garbage"u8.ToArray();
        await SendUntil(() => handler.Contains(first), () => peer.SendTo(sut.LocalAddress, first), "a datagram before the garbage");
        var random = new Random(12);

        foreach (var length in new[] { 0, 1, 2, 3, 7, 10, 11, 64, 65, 200, 1000 })
        {
            var garbage = new byte[length];
            random.NextBytes(garbage);
            await InjectRawAsync(sut, garbage);
        }
        // A ZMTP greeting (the first bytes any ZeroMQ peer sends) cut short, and one followed by nonsense.
        await InjectRawAsync(sut, [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3]);
        await InjectRawAsync(sut, [0xFF, 0, 0, 0, 0, 0, 0, 0, 1, 0x7F, 3, 0, .. "NULL"u8, .. new byte[16], 0, .. new byte[31], 0x04, 0xFF, 0xFF]);
        await SendUntil(() => handler.Contains(after), () => peer.SendTo(sut.LocalAddress, after), "a datagram after the garbage");

        Assert.That(handler.Threads.Distinct().Single().IsAlive, Is.True, "the receive thread survived");
        Assert.That(handler.MostAtOnce, Is.EqualTo(1));
    }

    [Test]
    public async Task SendTo_UnreachableAddress_IsDroppedWithoutThrowing()
    {
        var (sut, own) = await StartAsync();
        var datagram = "still working"u8.ToArray();

        Assert.That(() => sut.SendTo(UnreachableAddress, "nobody there"u8), Throws.Nothing);
        await SendUntil(() => own.Contains(datagram), () => sut.SendTo(sut.LocalAddress, datagram), "a later datagram to itself");

        Assert.That(own.Datagrams, Has.All.EqualTo(datagram));
    }

    [Test]
    public async Task Send_FromManyThreadsAtOnce_EveryDatagramArrivesWhole()
    {
        const int Threads = 4;
        const int PerThread = 200;
        var (sut, _) = await StartAsync();
        var (peer, handler) = await StartAsync();
        await SendUntil(() => handler.Count > 0, () => sut.SendTo(peer.LocalAddress, Pattern(0, 0)), "the connection is up");

        await Task.WhenAll(Enumerable.Range(1, Threads).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                if (i % 2 == 0)
                    sut.SendTo(peer.LocalAddress, Pattern(t, i));
                else
                    sut.SendToGroup(Pattern(t, i));
            }
        })));

        // Some may be lost (a transport is unreliable), but whatever arrives is one sender's datagram, whole.
        await Eventually.Until(() => Enumerable.Range(1, Threads).All(t => handler.Datagrams.Any(d => d[0] == t)), "a datagram from every sending thread");
        Assert.That(handler.Datagrams.Where(d => d[0] != 0), Has.All.Matches<byte[]>(d => d.AsSpan().SequenceEqual(Pattern(d[0], BitConverter.ToInt32(d, 1)))));
    }

    [Test]
    public async Task DisposeAsync_Started_StopsTheReceiveThreadAndLaterSendsAreDropped()
    {
        var (sut, own) = await StartAsync();
        var (peer, handler) = await StartAsync();
        await SendUntil(() => own.Count > 0, () => sut.SendTo(sut.LocalAddress, [1]), "the receive thread delivered once");
        var thread = own.Threads.First();

        await sut.DisposeAsync();
        var deliveredBefore = own.Count;

        Assert.That(thread.IsAlive, Is.False, "the receive thread has ended");
        Assert.That(() => sut.SendToGroup([2]), Throws.Nothing);
        Assert.That(() => sut.SendTo(peer.LocalAddress, [3]), Throws.Nothing);
        Assert.That(() => sut.SendTo(sut.LocalAddress, [4]), Throws.Nothing);
        Assert.That(async () => await sut.DisposeAsync(), Throws.Nothing, "a second dispose");
        // The peer is alive and hears the group: once it has a later datagram, the disposed one's would have arrived.
        var marker = "marker"u8.ToArray();
        var (other, _) = await StartAsync();
        await SendUntil(() => handler.Contains(marker), () => other.SendToGroup(marker), "the peer hears a live member");
        Assert.That(handler.Datagrams.Any(d => d.Length == 1), Is.False, "nothing from the disposed transport");
        Assert.That(own.Count, Is.EqualTo(deliveredBefore), "nothing delivered after dispose");
    }

    /// <summary>Thread <paramref name="thread"/>'s datagram <paramref name="index"/>: its number, the index, then a
    /// fill derived from both, so a torn or mixed datagram shows.</summary>
    private static byte[] Pattern(int thread, int index)
    {
        var datagram = new byte[5 + 32 + index % 50];
        datagram[0] = (byte)thread;
        BitConverter.TryWriteBytes(datagram.AsSpan(1), index);
        for (var i = 5; i < datagram.Length; i++)
            datagram[i] = (byte)(thread * 31 + index * 7 + i);
        return datagram;
    }

    /// <summary>Keeps every datagram, the threads that delivered them, how many calls overlapped at most, the idle
    /// reports; throws when asked to.</summary>
    protected sealed class Recorder : IDatagramHandler
    {
        private readonly ConcurrentQueue<byte[]> _datagrams = new();
        private readonly ConcurrentQueue<Thread> _threads = new();
        private int _inside;
        private int _mostAtOnce;
        private int _idleReports;
        private int _failures;

        public Func<byte[], bool>? ThrowWhen { get; init; }

        public bool ThrowOnIdle { get; init; }

        public IReadOnlyCollection<byte[]> Datagrams => _datagrams;

        public IEnumerable<Thread> Threads => _threads;

        public int Count => _datagrams.Count;

        public int IdleReports => Volatile.Read(ref _idleReports);

        public int Failures => Volatile.Read(ref _failures);

        public int MostAtOnce => Volatile.Read(ref _mostAtOnce);

        public bool Contains(byte[] datagram) => _datagrams.Any(d => d.AsSpan().SequenceEqual(datagram));

        public void OnDatagram(ReadOnlySpan<byte> datagram)
        {
            var inside = Interlocked.Increment(ref _inside);
            try
            {
                if (inside > Volatile.Read(ref _mostAtOnce))
                    Volatile.Write(ref _mostAtOnce, inside);
                var thread = Thread.CurrentThread;
                if (!_threads.Contains(thread))
                    _threads.Enqueue(thread);
                var copy = datagram.ToArray();
                if (ThrowWhen?.Invoke(copy) == true)
                {
                    Interlocked.Increment(ref _failures);
                    throw new InvalidOperationException($"handler failure injected by the test ({Encoding.UTF8.GetString(copy)})");
                }
                _datagrams.Enqueue(copy);
            }
            finally
            {
                Interlocked.Decrement(ref _inside);
            }
        }

        public void OnReceiveIdle()
        {
            Interlocked.Increment(ref _idleReports);
            if (ThrowOnIdle)
                throw new InvalidOperationException("idle handler failure injected by the test");
        }
    }
}
