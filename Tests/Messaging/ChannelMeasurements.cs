using System.Diagnostics;
using Multicast.Messaging;
using Multicast.Tests.TestSupport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>
/// Figures for docs/messaging.md, not checks: run on demand with
/// <c>dotnet test Tests/Multicast.Tests.csproj -c Release --filter "FullyQualifiedName~ChannelMeasurements" --logger "console;verbosity=detailed"</c>.
/// </summary>
[Explicit("measurements; run on demand")]
[Category("Measure")]
public sealed class ChannelMeasurements
{
    private static async Task<List<(ReliableGroupChannel Channel, CollectingHandler Handler)>> Group(InMemoryHub hub, int count)
    {
        var nodes = new List<(ReliableGroupChannel, CollectingHandler)>();
        for (var i = 0; i < count; i++)
        {
            var channel = new ReliableGroupChannel(hub.CreateTransport(), new GroupChannelOptions
            {
                ClusterId = "measure",
                NodeId = $"n{i}",
                ClusterKey = "measurement-key-0123456789",
                JoinTimeout = TimeSpan.FromMilliseconds(200),
                JoinRetryInterval = TimeSpan.FromMilliseconds(30),
                HeartbeatInterval = TimeSpan.FromMilliseconds(100),
            });
            var handler = new CollectingHandler();
            await channel.StartAsync(handler);
            nodes.Add((channel, handler));
        }
        await Eventually.Until(() => nodes.All(n => n.Item1.View.Members.Count == count), "one view");
        return nodes;
    }

    [TestCase(0.0)]
    [TestCase(0.2)]
    public async Task Throughput_OneSenderTwoReceivers(double loss)
    {
        var hub = new InMemoryHub(seed: 1);
        var nodes = await Group(hub, 3);
        hub.DropProbability = loss;
        const int n = 100_000;
        var payload = new byte[100];
        var watch = Stopwatch.StartNew();
        long last = 0;
        for (var i = 0; i < n; i++)
            last = await nodes[0].Channel.BroadcastAsync(payload);
        await nodes[0].Channel.WaitForAcksAsync(last, 2).WaitAsync(TimeSpan.FromMinutes(2));
        watch.Stop();
        TestContext.Out.WriteLine($"loss {loss:P0}: {n} x 100 B to 2 receivers in {watch.ElapsedMilliseconds} ms = {n / watch.Elapsed.TotalSeconds:F0} msg/s; sender {nodes[0].Channel.Counters}");
        Assert.That(nodes[1].Handler.Count, Is.EqualTo(n));
        foreach (var (channel, _) in nodes)
            await channel.DisposeAsync();
    }

    /// <summary>Counts without allocating, and samples what the receive thread allocated.</summary>
    private sealed class AllocationProbe : GroupHandler
    {
        public long Count;
        public long FirstBytes;
        public long LastBytes;

        public override void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast)
        {
            var n = Interlocked.Increment(ref Count);
            if (n == 1000)
                FirstBytes = GC.GetAllocatedBytesForCurrentThread();
            LastBytes = GC.GetAllocatedBytesForCurrentThread();
        }
    }

    [Test]
    public async Task ReceiveThread_AllocatedBytesPerMessage()
    {
        var hub = new InMemoryHub(seed: 1);
        var nodes = await Group(hub, 2);
        await nodes[1].Channel.DisposeAsync();
        var probe = new AllocationProbe();
        var receiver = new ReliableGroupChannel(hub.CreateTransport(), new GroupChannelOptions
        {
            ClusterId = "measure",
            NodeId = "probe",
            ClusterKey = "measurement-key-0123456789",
            JoinTimeout = TimeSpan.FromMilliseconds(200),
            JoinRetryInterval = TimeSpan.FromMilliseconds(30),
            HeartbeatInterval = TimeSpan.FromMilliseconds(100),
        });
        await receiver.StartAsync(probe);
        await Eventually.Until(() => nodes[0].Channel.View.Members.Count == 2, "one view");
        const int n = 50_000;
        long last = 0;
        for (var i = 0; i < n; i++)
            last = await nodes[0].Channel.BroadcastAsync(new byte[100]);
        await nodes[0].Channel.WaitForAcksAsync(last, 1).WaitAsync(TimeSpan.FromMinutes(1));
        await Eventually.Until(() => Interlocked.Read(ref probe.Count) == n, "every message");
        TestContext.Out.WriteLine($"receive thread: {(double)(probe.LastBytes - probe.FirstBytes) / (n - 1000):F1} bytes allocated per 100-byte message (in-order, HMAC, after warm-up)");
        await receiver.DisposeAsync();
        await nodes[0].Channel.DisposeAsync();
    }

    [TestCase(0.0)]
    [TestCase(0.2)]
    public async Task AckLatency_BroadcastThenWaitForTwoAcks(double loss)
    {
        var hub = new InMemoryHub(seed: 1);
        var nodes = await Group(hub, 3);
        hub.DropProbability = loss;
        var samples = new List<double>();
        for (var i = 0; i < 2000; i++)
        {
            var watch = Stopwatch.StartNew();
            var seq = await nodes[0].Channel.BroadcastAsync(new byte[200]);
            await nodes[0].Channel.WaitForAcksAsync(seq, 2).WaitAsync(TimeSpan.FromSeconds(30));
            samples.Add(watch.Elapsed.TotalMilliseconds);
        }
        samples.Sort();
        TestContext.Out.WriteLine($"loss {loss:P0}: broadcast + 2 acks, 2000 rounds: median {samples[1000]:F3} ms, p90 {samples[1800]:F3} ms, p99 {samples[1980]:F3} ms, max {samples[^1]:F3} ms");
        foreach (var (channel, _) in nodes)
            await channel.DisposeAsync();
    }

    [TestCase(0.0)]
    [TestCase(0.2)]
    public async Task LargeMessage_4MiB(double loss)
    {
        var hub = new InMemoryHub(seed: 1);
        var nodes = await Group(hub, 3);
        hub.DropProbability = loss;
        var message = new byte[4 * 1024 * 1024];
        var times = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            var seq = await nodes[0].Channel.BroadcastAsync(message);
            await nodes[0].Channel.WaitForAcksAsync(seq, 2).WaitAsync(TimeSpan.FromMinutes(1));
            times.Add(watch.Elapsed.TotalMilliseconds);
        }
        TestContext.Out.WriteLine($"loss {loss:P0}: 4 MiB to 2 receivers, acked in {string.Join(", ", times.Select(t => t.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)))} ms; sender {nodes[0].Channel.Counters}");
        foreach (var (channel, _) in nodes)
            await channel.DisposeAsync();
    }
}
