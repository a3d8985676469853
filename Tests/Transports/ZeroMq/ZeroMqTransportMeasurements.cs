using System.Diagnostics;
using Multicast.Transport;
using Multicast.Transports.ZeroMq;
using static Multicast.Tests.Transports.ZeroMq.ZeroMqTestHelpers;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>Figures for docs/zeromq.md, run by hand (not part of the suite):
/// <c>bash tools/test.sh --filter "TestCategory=Measurement&amp;FullyQualifiedName~ZeroMq"</c>.</summary>
[Explicit("measurement, run by hand")]
[Category("Measurement")]
[Category("Integration")]
[NonParallelizable]
public sealed class ZeroMqTransportMeasurements
{
    // ZMQ_RATE for the NORM/PGM runs, kbit/s; override with MULTICAST_ZMQ_RATE.
    private static readonly int RateKbps = int.TryParse(Environment.GetEnvironmentVariable("MULTICAST_ZMQ_RATE"), out var r) ? r : ZeroMqTransportOptions.DefaultRate;

    [TestCase("tcp", 1400, 200_000)]
    [TestCase("tcp", 100, 500_000)]
    [TestCase("epgm", 1400, 20_000)]
    [TestCase("norm", 1400, 20_000)]
    public async Task SendToGroup_OneSenderOneReceiver_Throughput(string path, int size, int count)
    {
        var group = $"{path}://127.0.0.1;239.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(1, 255)}:{Random.Shared.Next(20_000, 60_000)}";
        void Configure(ZeroMqTransportOptions o)
        {
            o.SendHighWaterMark = o.ReceiveHighWaterMark = 100_000;
            o.Rate = RateKbps;
            if (path != "tcp")
                o.GroupEndpoint = group;
        }
        var options = LoopbackOptions();
        Configure(options);
        var sender = new ZeroMqTransport(options);
        options = LoopbackOptions();
        Configure(options);
        var receiver = new ZeroMqTransport(options);
        var counting = new CountingHandler();
        await sender.StartAsync(new CountingHandler());
        await receiver.StartAsync(counting);
        try
        {
            if (path == "tcp")
                receiver.AddPeer(sender.PublishAddress);
            await Eventually(() => counting.Count > 0, () => sender.SendToGroup([0]));
            var before = counting.Count;
            var datagram = new byte[size];

            var clock = Stopwatch.StartNew();
            for (var i = 0; i < count; i++)
            {
                sender.SendToGroup(datagram);
                // Keep the send queue from overflowing: the measure is the wire path, not the queue's drop policy.
                while (sender.Counters.GroupSent < i - 8192)
                    Thread.Yield();
            }
            var done = await Eventually(() => counting.Count - before >= count, timeout: TimeSpan.FromSeconds(60));
            clock.Stop();

            var delivered = counting.Count - before;
            TestContext.Out.WriteLine($"ZeroMQ {path} loopback, {size} B: {count} sent, {delivered} delivered in {clock.Elapsed.TotalMilliseconds:F0} ms = {delivered / clock.Elapsed.TotalSeconds:F0} datagrams/s, {delivered * (double)size * 8 / clock.Elapsed.TotalSeconds / 1e6:F0} Mbit/s; transport drops {sender.Counters.Dropped}");
            Assert.That(done, Is.True, $"{delivered} of {count} delivered");
        }
        finally
        {
            await sender.DisposeAsync();
            await receiver.DisposeAsync();
        }
    }

    [Test]
    public async Task SendTo_PingPong_RoundTripTime()
    {
        var a = new ZeroMqTransport(LoopbackOptions());
        var b = new ZeroMqTransport(LoopbackOptions());
        var pong = new CountingHandler();
        var echo = new EchoHandler(() => b, () => a.LocalAddress);
        await a.StartAsync(pong);
        await b.StartAsync(echo);
        try
        {
            await Eventually(() => pong.Count > 0, () => a.SendTo(b.LocalAddress, [1]));
            const int Rounds = 20_000;
            var samples = new double[Rounds];
            var datagram = new byte[100];
            for (var i = 0; i < Rounds; i++)
            {
                var expected = pong.Count + 1;
                var t = Stopwatch.GetTimestamp();
                a.SendTo(b.LocalAddress, datagram);
                // Spin: a round trip is tens of microseconds.
                while (pong.Count < expected)
                    Thread.SpinWait(20);
                samples[i] = Stopwatch.GetElapsedTime(t).TotalMicroseconds;
            }
            Array.Sort(samples);
            TestContext.Out.WriteLine($"ZeroMQ PUSH/PULL tcp loopback round trip, 100 B, {Rounds} rounds: median {samples[Rounds / 2]:F0} µs, p99 {samples[Rounds * 99 / 100]:F0} µs");
            Assert.That(pong.Count, Is.GreaterThanOrEqualTo(Rounds));
        }
        finally
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
    }

    private sealed class CountingHandler : IDatagramHandler
    {
        private long _count;

        public long Count => Volatile.Read(ref _count);

        public void OnDatagram(ReadOnlySpan<byte> datagram) => Interlocked.Increment(ref _count);
    }

    private sealed class EchoHandler(Func<ZeroMqTransport> self, Func<string> to) : IDatagramHandler
    {
        public void OnDatagram(ReadOnlySpan<byte> datagram) => self().SendTo(to(), datagram);
    }
}
