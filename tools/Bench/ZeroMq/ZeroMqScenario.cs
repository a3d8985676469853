using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Multicast.Bench.Transport;
using Multicast.Messaging;
using Multicast.Transport;
using Multicast.Transports.ZeroMq;

namespace Multicast.Bench.ZeroMq;

/// <summary>
/// 1 KiB messages, 1 sender to 2 receivers, on loopback, in one run: ZeroMQ PUB/SUB datagrams without reliability
/// (the transport's ceiling), the reliable group channel over ZeroMQ, and libzmq's own reliable multicast (PGM over
/// UDP, and NORM when asked) carrying the same datagrams.
/// </summary>
internal sealed class ZeroMqScenario : IBenchScenario
{
    private const int Receivers = 2;

    public string Name => "zeromq";

    public string Description => "ZeroMQ PUB/SUB vs the reliable channel over ZeroMQ vs libzmq's epgm [/norm] (1 KiB, 1 -> 2, loopback) [--size B --seconds S --rate MSG/S --zmq-rate-kbps K --norm true]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var size = arguments.GetInt("size", 1024);
        var duration = TimeSpan.FromSeconds(arguments.GetDouble("seconds", 2));
        var rate = arguments.GetDouble("rate", 10_000);
        var multicastRate = arguments.GetInt("zmq-rate-kbps", ZeroMqTransportOptions.DefaultRate);
        var report = new BenchReport();
        report.Notes.Add($"{size}-byte messages, 1 sender -> {Receivers} receivers in one process on 127.0.0.1, libzmq {Interop.LibraryVersion()}; throughput runs send as fast as the sender's ZeroMQ thread takes them for {duration.TotalSeconds} s; messages_per_s = the slower receiver's rate.");

        var pubsub = await DatagramThroughputAsync("zmq_pubsub_throughput", null, size, duration, multicastRate, cancellationToken);
        report.Results.Add(pubsub);
        var reliable = await ReliableThroughputAsync(size, duration, cancellationToken);
        report.Results.Add(reliable);
        report.Ratios["reliable_zmq_vs_zmq_pubsub_throughput"] = reliable.Figures["messages_per_s"] / pubsub.Figures["messages_per_s"];
        await ReliableLatencyAsync(report, size, rate, duration, cancellationToken);

        var epgm = await DatagramThroughputAsync("zmq_epgm_throughput", $"epgm://127.0.0.1;{RandomGroup()}", size, duration, multicastRate, cancellationToken);
        report.Results.Add(epgm);
        report.Ratios["zmq_epgm_vs_zmq_pubsub_throughput"] = epgm.Figures["messages_per_s"] / pubsub.Figures["messages_per_s"];
        report.Ratios["reliable_zmq_vs_zmq_epgm_throughput"] = reliable.Figures["messages_per_s"] / epgm.Figures["messages_per_s"];
        if (string.Equals(arguments.Get("norm"), "true", StringComparison.OrdinalIgnoreCase))
        {
            var norm = await DatagramThroughputAsync("zmq_norm_throughput", $"norm://127.0.0.1;{RandomGroup()}", size, duration, multicastRate, cancellationToken);
            report.Results.Add(norm);
            report.Ratios["zmq_norm_vs_zmq_pubsub_throughput"] = norm.Figures["messages_per_s"] / pubsub.Figures["messages_per_s"];
        }
        else
        {
            report.Notes.Add("NORM is left out unless --norm true: libzmq 4.3.4's NORM engine stalls and can abort the process (assertion in norm_engine.cpp) under load; see docs/zeromq.md.");
        }
        report.Notes.Add($"epgm/norm: the group path is libzmq's reliable multicast (its own NAK repair, no channel), ZMQ_RATE = {multicastRate} kbit/s (--zmq-rate-kbps); undelivered = messages a receiver never got within 30 s.");
        return report;
    }

    private static string RandomGroup() =>
        $"239.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(0, 256)}.{Random.Shared.Next(1, 255)}:{Random.Shared.Next(20_000, 60_000)}";

    private static int FreeTcpPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    /// <summary>Options for node <paramref name="index"/> of a mesh whose PUB ports are fixed in advance, so every
    /// node can be given the whole peer list before it starts (as a deployment's configuration would).</summary>
    private static ZeroMqTransportOptions MeshOptions(int index, int[] ports, string? group, int multicastRate)
    {
        var options = new ZeroMqTransportOptions
        {
            SendHighWaterMark = 100_000,
            ReceiveHighWaterMark = 100_000,
            Rate = multicastRate,
            GroupEndpoint = group,
        };
        if (group is null)
        {
            options.PublishEndpoint = $"tcp://127.0.0.1:{ports[index]}";
            foreach (var port in ports)
                options.Peers.Add($"tcp://127.0.0.1:{port}");
        }
        return options;
    }

    private static async Task<BenchResult> DatagramThroughputAsync(string name, string? group, int size, TimeSpan duration, int multicastRate, CancellationToken cancellationToken)
    {
        var ports = Enumerable.Range(0, Receivers + 1).Select(_ => FreeTcpPort()).ToArray();
        var transports = new List<ZeroMqTransport>();
        var receivers = new List<CountingHandler>();
        try
        {
            for (var i = 0; i <= Receivers; i++)
            {
                var transport = new ZeroMqTransport(MeshOptions(i, ports, group, multicastRate));
                transports.Add(transport);
                var handler = new CountingHandler();
                if (i > 0)
                    receivers.Add(handler);
                await transport.StartAsync(handler, cancellationToken);
            }
            var sender = transports[0];
            // Subscriptions (and NORM/PGM sessions) take a moment: probe until every receiver hears the sender.
            var probe = new byte[size];
            var ready = Stopwatch.StartNew();
            while (receivers.Any(r => r.Received == 0))
            {
                if (ready.Elapsed > TimeSpan.FromSeconds(20))
                    throw new TimeoutException($"{name}: the receivers never heard the sender");
                sender.SendToGroup(probe);
                await Task.Delay(10, cancellationToken);
            }
            await Task.Delay(200, cancellationToken);
            foreach (var r in receivers)
                r.Reset();

            var message = new byte[size];
            long sent = 0;
            var start = Stopwatch.GetTimestamp();
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
            {
                BenchNetwork.Stamp(message, sent++);
                sender.SendToGroup(message);
                // Stay below the send queue's capacity: the measure is the wire path, not the queue's drop policy.
                while (sent - sender.Counters.GroupSent > 8192)
                    Thread.Yield();
            }
            var sendSeconds = clock.Elapsed.TotalSeconds;
            var wait = Stopwatch.StartNew();
            while (receivers.Any(r => r.Received < sent) && wait.Elapsed < TimeSpan.FromSeconds(30))
                await Task.Delay(5, cancellationToken);

            var perReceiver = receivers.Select(r => r.Received / Stopwatch.GetElapsedTime(start, r.LastTimestamp).TotalSeconds).ToArray();
            var result = new BenchResult { Name = name }
                .Set("messages_sent", sent)
                .Set("sent_per_s", sent / sendSeconds)
                .Set("messages_per_s", perReceiver.Min())
                .Set("undelivered", receivers.Sum(r => Math.Max(0, sent - r.Received)))
                .Set("transport_dropped", sender.Counters.Dropped);
            // PUB drops silently past its high-water mark when the sender outruns a receiver: no flow control here.
            result.Set("loss_pct", 100.0 * result.Figures["undelivered"] / (sent * (double)Receivers));
            result.Set("mb_per_s", result.Figures["messages_per_s"] * size / 1e6);
            return result;
        }
        finally
        {
            foreach (var t in transports)
                await t.DisposeAsync();
        }
    }

    private static async Task<BenchResult> ReliableThroughputAsync(int size, TimeSpan duration, CancellationToken cancellationToken)
    {
        await using var cluster = await StartClusterAsync(cancellationToken);
        var message = new byte[size];
        long sent = 0;
        var start = Stopwatch.GetTimestamp();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
        {
            BenchNetwork.Stamp(message, sent++);
            await cluster.Sender.BroadcastAsync(message, cancellationToken);
        }
        var sendSeconds = clock.Elapsed.TotalSeconds;
        var all = await cluster.WaitDeliveredAsync(sent, TimeSpan.FromSeconds(30));
        var perReceiver = cluster.Receivers.Select(r => r.Delivered / Stopwatch.GetElapsedTime(start, r.LastDelivery).TotalSeconds).ToArray();
        var result = new BenchResult { Name = "reliable_zmq_throughput" }
            .Set("messages_sent", sent)
            .Set("sent_per_s", sent / sendSeconds)
            .Set("messages_per_s", all ? perReceiver.Min() : 0)
            .Set("undelivered", cluster.Receivers.Sum(r => sent - r.Delivered));
        result.Set("mb_per_s", result.Figures["messages_per_s"] * size / 1e6);
        cluster.Report(result);
        return result;
    }

    private static async Task ReliableLatencyAsync(BenchReport report, int size, double rate, TimeSpan duration, CancellationToken cancellationToken)
    {
        await using var cluster = await StartClusterAsync(cancellationToken);
        var latencies = new Latencies((int)(rate * duration.TotalSeconds * Receivers) + 16);
        var (sent, all) = await cluster.SendPacedAsync(size, rate, duration, latencies, cancellationToken);
        var result = report.Add("reliable_zmq_latency").Set("offered_per_s", rate).Set("messages_sent", sent)
            .Set("undelivered", cluster.Receivers.Sum(r => sent - r.Delivered));
        latencies.Report(result);
        cluster.Report(result);
        if (!all)
            report.Notes.Add("reliable_zmq_latency: not every message was delivered within 30 s");
    }

    /// <summary>Counts datagrams and remembers when the last one arrived.</summary>
    private sealed class CountingHandler : IDatagramHandler
    {
        private long _received;
        private long _last;

        public long Received => Interlocked.Read(ref _received);

        public long LastTimestamp => Interlocked.Read(ref _last);

        public void Reset()
        {
            Interlocked.Exchange(ref _received, 0);
            Interlocked.Exchange(ref _last, 0);
        }

        public void OnDatagram(ReadOnlySpan<byte> datagram)
        {
            Interlocked.Exchange(ref _last, Stopwatch.GetTimestamp());
            Interlocked.Increment(ref _received);
        }
    }

    /// <summary>One sender and <see cref="Receivers"/> receivers, each a channel over its own ZeroMQ transport.</summary>
    private static Task<ChannelCluster> StartClusterAsync(CancellationToken cancellationToken)
    {
        var ports = Enumerable.Range(0, Receivers + 1).Select(_ => FreeTcpPort()).ToArray();
        return ChannelCluster.StartAsync(Receivers, i => new ZeroMqTransport(MeshOptions(i, ports, null, ZeroMqTransportOptions.DefaultRate)), null, cancellationToken);
    }
}
