using System.Diagnostics;
using System.Globalization;
using Multicast.Messaging;
using Multicast.Transport;
using Multicast.Transports.Udp;

namespace Multicast.Bench.Transport;

internal sealed partial class TransportScenario
{
    /// <summary>Channel options from the command line (--send-window-bytes), applied to every reliable run.</summary>
    private static Action<GroupChannelOptions>? Tuning { get; set; }

    private static void ParseTuning(BenchArguments arguments, BenchReport report)
    {
        if (arguments.Get("send-window-bytes") is { } window)
        {
            var bytes = long.Parse(window, CultureInfo.InvariantCulture);
            Tuning = o =>
            {
                o.SendWindowBytes = bytes;
                o.MaxMessageBytes = (int)Math.Min(o.MaxMessageBytes, bytes);
            };
            report.Notes.Add($"every reliable run: Cluster:SendWindowBytes = {bytes} (Cluster:MaxMessageBytes capped to it)");
        }
    }

    /// <summary>The reliable channel over UDP: throughput, latency at the offered rate, repair latency under loss.</summary>
    private static async Task ReliableAsync(BenchReport report, int size, double rate, TimeSpan duration, BenchArguments arguments, CancellationToken cancellationToken)
    {
        var loss = arguments.GetDouble("loss", 0.01);
        var nakRetry = TimeSpan.FromMilliseconds(arguments.GetDouble("tuned-nak-retry-ms", 5));
        // Warm-up, not reported: the first paced run of a process ran on tier-0 code (p50 1-4 ms instead of 0.1 ms).
        await ReliableLatencyAsync(new BenchReport(), "warm-up", size, rate, TimeSpan.FromSeconds(1), UdpTransportOptions.DefaultDatagramSize, 0, null, cancellationToken);
        await ReliableLatencyAsync(report, "reliable_udp_latency", size, rate, duration, UdpTransportOptions.DefaultDatagramSize, 0, null, cancellationToken);
        // Longer than the other runs: at 1% loss a 2-second run yields only ~400 repairs, too few for a p99.
        var repairDuration = TimeSpan.FromSeconds(arguments.GetDouble("repair-seconds", 5));
        await ReliableLatencyAsync(report, "reliable_udp_repair_1pct_loss", size, rate, repairDuration, UdpTransportOptions.DefaultDatagramSize, loss, null, cancellationToken);
        await ReliableLatencyAsync(report, "reliable_udp_repair_1pct_loss_tuned", size, rate, repairDuration, UdpTransportOptions.DefaultDatagramSize, loss,
            o => o.NakRetryInterval = nakRetry, cancellationToken);
        report.Notes.Add($"repair: each receiver's transport is wrapped to drop {loss:P0} of incoming datagrams at random (in process, seeded; NAKs and repairs are dropped too); repair_* = time from a data packet's drop to the arrival of its repair; the latency figures of those runs are publish -> delivered of all messages under that loss. '_tuned' sets Cluster:NakRetryInterval = {nakRetry.TotalMilliseconds} ms, everything else default.");
    }

    private static async Task<BenchResult> ReliableThroughputAsync(string name, int size, TimeSpan duration, int datagramSize, bool offload, CancellationToken cancellationToken)
    {
        var udps = new List<UdpMulticastTransport>();
        await using var cluster = await StartClusterAsync(datagramSize, loss: 0, repairs: null, lossy: [], configure: null, cancellationToken, offload, udps);
        var message = new byte[size];
        long sent = 0;
        var cpu = Environment.CpuUsage.TotalTime;
        var start = Stopwatch.GetTimestamp();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
        {
            BenchNetwork.Stamp(message, sent++);
            await cluster.Sender.BroadcastAsync(message, cancellationToken);
        }
        var sendSeconds = clock.Elapsed.TotalSeconds;
        var all = await cluster.WaitDeliveredAsync(sent, TimeSpan.FromSeconds(30));
        var cpuSeconds = (Environment.CpuUsage.TotalTime - cpu).TotalSeconds;
        var perReceiver = cluster.Receivers.Select(r => r.Delivered / Stopwatch.GetElapsedTime(start, r.LastDelivery).TotalSeconds).ToArray();
        var result = new BenchResult { Name = name }
            .Set("datagram_size", datagramSize)
            .Set("messages_sent", sent)
            .Set("sent_per_s", sent / sendSeconds)
            .Set("messages_per_s", all ? perReceiver.Min() : 0)
            .Set("undelivered", cluster.Receivers.Sum(r => sent - r.Delivered));
        result.Set("mb_per_s", result.Figures["messages_per_s"] * size / 1e6);
        SetCosts(result, sent, cpuSeconds, udps[0].SendSystemCalls, udps.Skip(1).Sum(u => u.ReceiveSystemCalls));
        cluster.Report(result);
        return result;
    }

    private static async Task ReliableLatencyAsync(BenchReport report, string name, int size, double rate, TimeSpan duration, int datagramSize, double loss, Action<GroupChannelOptions>? configure, CancellationToken cancellationToken)
    {
        var repairs = new Latencies(1 << 20);
        var lossy = new List<LossyTransport>();
        await using var cluster = await StartClusterAsync(datagramSize, loss, loss > 0 ? repairs : null, lossy, configure, cancellationToken);
        var latencies = new Latencies((int)(rate * duration.TotalSeconds * Receivers) + 16);
        var (sent, all) = await cluster.SendPacedAsync(size, rate, duration, latencies, cancellationToken);

        var result = report.Add(name).Set("datagram_size", datagramSize).Set("offered_per_s", rate).Set("messages_sent", sent)
            .Set("undelivered", cluster.Receivers.Sum(r => sent - r.Delivered));
        latencies.Report(result);
        if (loss > 0)
        {
            result.Set("loss_pct", loss * 100);
            result.Set("datagrams_dropped", lossy.Sum(l => l.Dropped));
            repairs.Report(result, "repair_");
        }
        cluster.Report(result);
        if (!all)
            report.Notes.Add($"{name}: not every message was delivered within 30 s");
    }

    /// <summary>One sender and <see cref="Receivers"/> receivers, each a channel over its own UDP transport; with
    /// <paramref name="loss"/>, the receivers' transports drop that share of what arrives (recorded in <paramref name="lossy"/>).</summary>
    /// <summary>What one message cost the whole process (sender and receivers: it runs them all): CPU (user + system)
    /// per message sent, the sender's send system calls and the receivers' receive system calls (summed) per message.</summary>
    internal static void SetCosts(BenchResult result, long messages, double cpuSeconds, long sendCalls, long receiveCalls)
    {
        result.Set("cpu_us_per_message", cpuSeconds * 1e6 / Math.Max(1, messages))
            .Set("send_calls_per_message", (double)sendCalls / Math.Max(1, messages))
            .Set("receive_calls_per_message", (double)receiveCalls / Math.Max(1, messages));
    }

    private static Task<ChannelCluster> StartClusterAsync(int datagramSize, double loss, Latencies? repairs, List<LossyTransport> lossy, Action<GroupChannelOptions>? configure, CancellationToken cancellationToken, bool offload = true, List<UdpMulticastTransport>? udps = null)
    {
        var udp = new UdpTransportOptions
        {
            Group = BenchNetwork.RandomGroup().ToString(),
            Port = BenchNetwork.FreeUdpPort(),
            DatagramSize = datagramSize,
            ReceiveBufferBytes = BufferBytes,
            Offload = offload,
        };
        return ChannelCluster.StartAsync(Receivers, i =>
        {
            var created = new UdpMulticastTransport(udp);
            udps?.Add(created);
            ITransport transport = created;
            if (i == 0 || loss <= 0)
                return transport;
            var dropping = new LossyTransport(transport, loss, repairs!);
            lossy.Add(dropping);
            return dropping;
        }, o =>
        {
            o.DatagramSize = datagramSize;
            Tuning?.Invoke(o);
            configure?.Invoke(o);
        }, cancellationToken);
    }
}
