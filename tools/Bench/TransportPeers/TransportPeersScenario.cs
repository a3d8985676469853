using System.Diagnostics;
using Multicast.Bench.Transport;

namespace Multicast.Bench.TransportPeers;

/// <summary>
/// 1 sender -> 2 receivers on loopback, in one run, at 1 KiB and 64 KiB: raw UDP multicast (the ceiling), the
/// reliable group channel over UDP, and libzmq's reliable multicast peers epgm:// (OpenPGM) and norm:// (NORM)
/// with ZMQ_RATE raised. Throughput (send as fast as the mechanism takes it) and publish -> delivered latency at a
/// fixed offered rate.
/// </summary>
internal sealed class TransportPeersScenario : IBenchScenario
{
    private const int Receivers = 2;

    public string Name => "transport-peers";

    public string Description => "raw UDP vs reliable channel vs libzmq epgm/norm, 1 KiB and 64 KiB, 1 -> 2 [--seconds S --zmq-rate KBIT/S --sizes 1024,65000]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var duration = TimeSpan.FromSeconds(arguments.GetDouble("seconds", 2));
        var zmqRate = arguments.GetInt("zmq-rate", 1_000_000);
        var sizes = (arguments.Get("sizes") ?? "1024,65000").Split(',').Select(s => int.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var only = arguments.Get("peers")?.Split(',') ?? ["raw_udp", "reliable_udp", "reliable_udp_jumbo", "epgm", "norm"];
        var report = new BenchReport();
        report.Notes.Add($"1 sender -> {Receivers} receivers in one process on 127.0.0.1. Throughput: the sender sends for {duration.TotalSeconds} s as fast as the mechanism accepts; messages_per_s = the slower receiver's count / time to its last message; loss_pct = share not delivered to the slower receiver.");
        report.Notes.Add("Latency: publish -> delivered (Stopwatch stamp in the message), over both receivers, at the offered rate (1 KiB: 10,000 msg/s; 64 KiB: 500 msg/s).");
        report.Notes.Add($"epgm/norm: libzmq (the benchmark's own binding to Debian's libzmq5) PUB/SUB straight on epgm:// and norm:// (no channel on top), each socket in its own context, ZMQ_RATE {zmqRate} kbit/s, SNDHWM/RCVHWM 100,000; the PUB drops (never blocks) at its HWM: dropped_at_publisher.");
        report.Notes.Add("reliable_udp_jumbo (64 KiB only): the same channel with DatagramSize 65,507 on channel and transport (loopback's MTU allows it), so a message is one datagram.");
        report.Notes.Add("64 KiB = 65,000 bytes, the largest a single raw UDP datagram carries; the channel fragments it into 1400-byte datagrams (its default DatagramSize), PGM/NORM into their own segments.");

        foreach (var size in sizes)
        {
            var label = size >= 60_000 ? "64k" : size == 1024 ? "1k" : size.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var rate = size >= 60_000 ? 500.0 : 10_000.0;
            var throughput = new Dictionary<string, double>();
            foreach (var peer in only)
            {
                if (peer == "reliable_udp_jumbo" && size < 60_000)
                    continue;
                Console.Error.WriteLine($"transport-peers: {peer} {label} ...");
                var isolate = peer is "epgm" or "norm" && arguments.Get("in-process") is null;
                var measured = isolate
                    ? await ChildProcess.MeasureAsync(report, peer, size, duration, zmqRate, $"{peer}_{label}_throughput", cancellationToken)
                    : await MeasureAsync(report, arguments, peer, label, size, rate, duration, zmqRate, cancellationToken);
                if (measured is { } value)
                    throughput[peer] = value;
                // A child writes what it has at once: it may hang afterwards, in libzmq's shutdown.
                if (!isolate && arguments.Json is { } partial)
                    await report.WriteJsonAsync(partial);
            }
            double Ratio(string a, string b) => throughput.TryGetValue(a, out var x) && throughput.TryGetValue(b, out var y) && y > 0 ? x / y : double.NaN;
            var suffix = label == "1k" ? "" : "_" + label;
            report.Ratios[$"reliable_udp_vs_raw_udp_throughput{suffix}"] = Ratio("reliable_udp", "raw_udp");
            report.Ratios[$"reliable_udp_vs_epgm_throughput{suffix}"] = Ratio("reliable_udp", "epgm");
            report.Ratios[$"reliable_udp_vs_norm_throughput{suffix}"] = Ratio("reliable_udp", "norm");
            if (size >= 60_000)
            {
                report.Ratios["reliable_udp_jumbo_vs_raw_udp_throughput_64k"] = Ratio("reliable_udp_jumbo", "raw_udp");
                report.Ratios["reliable_udp_jumbo_vs_epgm_throughput_64k"] = Ratio("reliable_udp_jumbo", "epgm");
            }
        }
        return report;
    }

    private static async Task<double?> MeasureAsync(BenchReport report, BenchArguments arguments, string peer, string label, int size, double rate, TimeSpan duration, int zmqRate,
        CancellationToken cancellationToken)
    {
        try
        {
            double throughput;
            await using (var group = await CreateAsync(peer, zmqRate, size, cancellationToken))
                throughput = await ThroughputAsync(report, group, $"{peer}_{label}_throughput", size, duration, cancellationToken,
                    async () => { if (arguments.Json is { } json) await report.WriteJsonAsync(json); });
            if (arguments.Json is { } partial)
                await report.WriteJsonAsync(partial);
            await using (var group = await CreateAsync(peer, zmqRate, size, cancellationToken))
                await LatencyAsync(report, group, $"{peer}_{label}_latency", size, rate, duration, cancellationToken);
            return throughput;
        }
        catch (Exception ex) when (ex is TimeoutException or ZeroMq.Libzmq.LibzmqException)
        {
            report.Notes.Add($"{peer} {label}: not measured: {ex.Message}");
            return null;
        }
    }

    private static async Task<PeerGroup> CreateAsync(string peer, int zmqRate, int size, CancellationToken cancellationToken) => peer switch
    {
        "raw_udp" => new RawUdpPeers(Receivers),
        "reliable_udp" => await ReliablePeers.StartUdpAsync(Receivers, cancellationToken),
        "reliable_udp_jumbo" => await ReliablePeers.StartUdpAsync(Receivers, cancellationToken, datagramSize: 65_507),
        "epgm" or "norm" => new LibzmqPeers(peer, Receivers, zmqRate, size),
        _ => throw new ArgumentException($"unknown peer {peer}"),
    };

    /// <summary>Throughput: as fast as the mechanism takes messages, or, for a <see cref="PeerGroup.Lossy"/> one (or
    /// when <paramref name="sweep"/> says so), the best offered rate it delivers with at most 1% loss.</summary>
    internal static async Task<double> ThroughputAsync(BenchReport report, PeerGroup group, string name, int size, TimeSpan duration, CancellationToken cancellationToken,
        Func<Task>? checkpoint = null, bool? sweep = null)
    {
        await group.WarmUpAsync(size, cancellationToken);
        if (sweep ?? group.Lossy)
            return await SweepAsync(report, group, name, size, duration, checkpoint ?? (() => Task.CompletedTask), cancellationToken);
        var message = new byte[size];
        long sent = 0;
        var start = Stopwatch.GetTimestamp();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            for (var i = 0; i < 64; i++)
            {
                BenchNetwork.Stamp(message, sent++);
                await group.SendAsync(message, cancellationToken);
            }
        }
        var sendSeconds = clock.Elapsed.TotalSeconds;
        await group.WaitQuietAsync(sent, TimeSpan.FromMilliseconds(300), cancellationToken);

        var slowest = group.Receivers.MinBy(r => r.Received)!;
        var seconds = Stopwatch.GetElapsedTime(start, Math.Max(slowest.LastTimestamp, start + 1)).TotalSeconds;
        var perSecond = slowest.Received / seconds;
        var result = report.Add(name)
            .Set("messages_sent", sent)
            .Set("sent_per_s", sent / sendSeconds)
            .Set("messages_per_s", perSecond)
            .Set("mb_per_s", perSecond * size / 1e6)
            .Set("loss_pct", 100.0 * (sent - slowest.Received) / sent)
            .Set("delivered_fraction", (double)slowest.Received / sent);
        AddDetails(result, group);
        return perSecond;
    }

    /// <summary>
    /// PGM and NORM have no back-pressure towards the publisher: sent as fast as possible they queue and lose
    /// (unrecoverable: PGM resets the session). Their throughput is the most the slower receiver got per second in a
    /// step that lost at most 1%, offering 1,000 msg/s (1 KiB; 50 for 64 KiB) and doubling, one step of the duration
    /// each, until a step loses more or delivers under 90% of what was offered. A failing step is retried once (NORM
    /// loses bursts early in a session). After every step the figure so far is written (<paramref name="checkpoint"/>):
    /// libzmq's NORM engine can abort the process.
    /// </summary>
    private static async Task<double> SweepAsync(BenchReport report, PeerGroup group, string name, int size, TimeSpan duration, Func<Task> checkpoint,
        CancellationToken cancellationToken)
    {
        var message = new byte[size];
        var rate = size >= 60_000 ? 50.0 : 1_000.0;
        var best = double.NaN;
        var result = report.Add(name);
        long next = 0;
        var retried = false;
        while (rate <= 1_000_000)
        {
            foreach (var r in group.Receivers)
                r.Reset();
            group.CountFrom = next;
            var first = next;
            var start = Stopwatch.GetTimestamp();
            next = await PacedAsync(group, message, rate, duration, next, cancellationToken);
            var sent = next - first;
            await group.WaitQuietAsync(sent, TimeSpan.FromMilliseconds(300), cancellationToken);
            var slowest = group.Receivers.MinBy(r => r.Received)!;
            var seconds = Stopwatch.GetElapsedTime(start, Math.Max(slowest.LastTimestamp, start + 1)).TotalSeconds;
            var delivered = slowest.Received / seconds;
            var loss = 100.0 * (sent - slowest.Received) / sent;
            Console.Error.WriteLine($"  {name}: offered {rate} msg/s, delivered {delivered:0} msg/s, loss {loss:0.##}%");
            if (loss <= 1 && !(delivered <= best))
            {
                best = delivered;
                result.Set("messages_per_s", best).Set("mb_per_s", best * size / 1e6).Set("loss_pct", loss).Set("at_offered_per_s", rate);
                AddDetails(result, group);
                await checkpoint();
            }
            var failed = loss > 1 || delivered < 0.9 * rate;
            if (failed && !retried && loss > 1)
            {
                retried = true;
                continue;
            }
            if (failed)
            {
                result.Set("first_failing_offered_per_s", rate);
                break;
            }
            rate *= 2;
            retried = false;
        }
        if (double.IsNaN(best))
            result.Set("messages_per_s", double.NaN);
        return best;
    }

    /// <summary>Sends stamped messages <paramref name="first"/>, ... at <paramref name="rate"/> per second for <paramref name="duration"/>; returns the next sequence.</summary>
    private static async Task<long> PacedAsync(PeerGroup group, byte[] message, double rate, TimeSpan duration, long first, CancellationToken cancellationToken)
    {
        var total = (long)(rate * duration.TotalSeconds);
        long sent = 0;
        var clock = Stopwatch.StartNew();
        while (sent < total)
        {
            var due = Math.Min(total, (long)(clock.Elapsed.TotalSeconds * rate) + 1);
            if (sent >= due)
            {
                await Task.Delay(1, cancellationToken);
                continue;
            }
            while (sent < due)
            {
                BenchNetwork.Stamp(message, first + sent++);
                await group.SendAsync(message, cancellationToken);
            }
        }
        return first + sent;
    }

    internal static async Task LatencyAsync(BenchReport report, PeerGroup group, string name, int size, double rate, TimeSpan duration, CancellationToken cancellationToken)
    {
        await group.WarmUpAsync(size, cancellationToken);
        var latencies = new Latencies((int)(rate * duration.TotalSeconds * Receivers) + 1024);
        foreach (var receiver in group.Receivers)
            receiver.Latencies = latencies;
        var sent = await PacedAsync(group, new byte[size], rate, duration, 0, cancellationToken);
        await group.WaitQuietAsync(sent, TimeSpan.FromMilliseconds(300), cancellationToken);
        var result = report.Add(name).Set("offered_per_s", rate).Set("messages_sent", sent)
            .Set("loss_pct", 100.0 * (sent * Receivers - latencies.Count) / (sent * Receivers));
        latencies.Report(result);
        AddDetails(result, group);
    }

    private static void AddDetails(BenchResult result, PeerGroup group)
    {
        if (group is LibzmqPeers zmq)
            result.Set("dropped_at_publisher", zmq.Dropped);
        if (group is ReliablePeers reliable)
        {
            var counters = reliable.SenderCounters;
            result.Set("sender_naks_received", counters.NaksReceived)
                .Set("sender_retransmissions", counters.Retransmissions)
                .Set("sender_multicast_repairs", counters.MulticastRepairs)
                .Set("sender_datagrams_sent", counters.DatagramsSent)
                .Set("sender_datagrams_received", counters.DatagramsReceived);
            if (reliable.Name.Contains("netmq", StringComparison.Ordinal))
                result.Set("transport_dropped", reliable.ZeroMqCounters.Dropped).Set("transport_invalid", reliable.ZeroMqCounters.Invalid)
                    .Set("transport_datagrams_per_message", reliable.ZeroMqCounters.DatagramsPerMessage);
        }
    }
}
