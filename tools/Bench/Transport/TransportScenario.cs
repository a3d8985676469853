using System.Diagnostics;
using System.Globalization;
using Multicast.Bench.TransportPeers;
using Multicast.Bench.ZeroMq;
using Multicast.Transports.Udp;

namespace Multicast.Bench.Transport;

/// <summary>
/// 1 KiB messages, 1 sender to 2 receivers, on loopback, in one run: raw UDP multicast (the ceiling) and the
/// reliable group channel over <see cref="Transports.Udp.UdpMulticastTransport"/>.
/// </summary>
internal sealed partial class TransportScenario : IBenchScenario
{
    private const int Receivers = 2;
    private const int BufferBytes = 4 * 1024 * 1024;

    // Datagrams per batch of the raw batched baselines: the channel's largest flush batch.
    private const int RawBatch = 64;

    public string Name => "transport";

    public string Description => "raw UDP multicast vs the reliable channel over UDP (1 KiB, 1 -> 2, loopback) [--size B --seconds S --rate MSG/S --repeat N --raw-senders N --datagram-sizes 1400,65000 --loss P --repair-seconds S --tuned-nak-retry-ms MS --only reliable-throughput [--offload false] | --only repair, --send-window-bytes B --peers none]; also runs transport-peers (64 KiB, epgm, norm) and zeromq in the same run";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var size = arguments.GetInt("size", 1024);
        var duration = TimeSpan.FromSeconds(arguments.GetDouble("seconds", 2));
        var rate = arguments.GetDouble("rate", 10_000);
        var report = new BenchReport();
        report.Notes.Add($"{size}-byte messages, 1 sender -> {Receivers} receivers in one process on 127.0.0.1; throughput runs send as fast as possible for {duration.TotalSeconds} s; latency runs offer {rate} msg/s; latency = publish -> delivered (Stopwatch), over both receivers.");

        ParseTuning(arguments, report);
        if (arguments.Get("only") == "reliable-throughput")
        {
            // For profiling the channel (perf record -p, dotnet-trace): one long reliable run and nothing else.
            report.Results.Add(await ReliableThroughputAsync("reliable_udp_throughput", size, duration, arguments.GetInt("datagram-size", UdpTransportOptions.DefaultDatagramSize),
                arguments.Get("offload") != "false", cancellationToken));
            return report;
        }

        if (arguments.Get("only") == "repair")
        {
            // Latency and repair runs alone (raw latency first, as in a full run).
            RawLatency(report, size, rate, duration, cancellationToken);
            await ReliableAsync(report, size, rate, duration, arguments, cancellationToken);
            return report;
        }

        // Throughput pairs alternate raw and reliable runs so both see the same machine load. Other load only
        // slows a run down, so the best run of each is the primary figure; medians are reported too.
        var repeat = Math.Max(1, arguments.GetInt("repeat", 5));
        var rawSenders = Math.Max(1, arguments.GetInt("raw-senders", 2));
        var datagramSizes = (arguments.Get("datagram-sizes") ?? "1400").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var warmUp = TimeSpan.FromMilliseconds(500);
        RawThroughput(size, warmUp, rawSenders, cancellationToken);
        await RawBatched.ThroughputAsync("warm-up", size, RawBatch, offload: true, Receivers, BufferBytes, warmUp, cancellationToken);
        foreach (var datagramSize in datagramSizes)
            await ReliableThroughputAsync("warm-up", size, warmUp, datagramSize, offload: true, cancellationToken);

        var raws = new List<BenchResult>();
        var rawBatched = new List<BenchResult>();
        var rawSegmented = new List<BenchResult>();
        var reliablesNoOffload = new List<BenchResult>();
        var reliables = datagramSizes.ToDictionary(d => d, _ => new List<BenchResult>());
        for (var i = 0; i < repeat; i++)
        {
            raws.Add(RawThroughput(size, duration, rawSenders, cancellationToken));
            rawBatched.Add(await RawBatched.ThroughputAsync("raw_udp_batched_throughput", size, RawBatch, offload: false, Receivers, BufferBytes, duration, cancellationToken));
            rawSegmented.Add(await RawBatched.ThroughputAsync("raw_udp_segmented_throughput", size, RawBatch, offload: true, Receivers, BufferBytes, duration, cancellationToken));
            foreach (var datagramSize in datagramSizes)
            {
                var suffix = datagramSize == UdpTransportOptions.DefaultDatagramSize ? "" : $"_dgram{datagramSize}";
                reliables[datagramSize].Add(await ReliableThroughputAsync("reliable_udp_throughput" + suffix, size, duration, datagramSize, offload: true, cancellationToken));
            }
            reliablesNoOffload.Add(await ReliableThroughputAsync("reliable_udp_no_offload_throughput", size, duration, UdpTransportOptions.DefaultDatagramSize, offload: false, cancellationToken));
        }
        var raw = Best(raws);
        var batched = Best(rawBatched);
        var segmented = Best(rawSegmented);
        report.Results.AddRange([raw, batched, segmented]);
        foreach (var (datagramSize, runs) in reliables)
        {
            var reliable = Best(runs);
            report.Results.Add(reliable);
            var suffix = datagramSize == UdpTransportOptions.DefaultDatagramSize ? "" : $"_dgram{datagramSize}";
            AddRatios(report, "reliable_udp_vs_raw_throughput" + suffix, reliable, raw);
            if (suffix.Length == 0)
            {
                AddRatios(report, "reliable_udp_vs_raw_segmented_throughput", reliable, segmented);
                report.Ratios["reliable_udp_vs_raw_cpu_per_message"] = CpuRatio(reliable, raw);
            }
        }
        var noOffload = Best(reliablesNoOffload);
        report.Results.Add(noOffload);
        AddRatios(report, "reliable_udp_no_offload_vs_raw_batched_throughput", noOffload, batched);
        AddRatios(report, "reliable_udp_no_offload_vs_raw_throughput", noOffload, raw);
        report.Ratios["reliable_udp_no_offload_vs_raw_batched_cpu_per_message"] = CpuRatio(noOffload, batched);
        report.Notes.Add($"throughput: after a warm-up, {repeat} rounds of 2 s runs, each round raw, raw batched, raw segmented, reliable, reliable without offload in turn; the best run of each is reported (other load only slows runs down), with every run's figure and the median; raw uses {rawSenders} sender thread(s) on one socket.");
        report.Notes.Add($"raw_udp_multicast = one sendto(2) per datagram from plain sockets, one blocking recv per datagram (the per-datagram ceiling); raw_udp_batched = UdpMulticastTransport without the channel, {RawBatch} datagrams per sendmmsg(2), recvmmsg(2), Cluster:Udp:Offload=false; raw_udp_segmented = the same with offload (each batch one UDP_SEGMENT buffer, UDP_GRO receivers): the same system calls as the reliable path.");
        report.Notes.Add("costs: cpu_us_per_message = this process's user + system CPU (Environment.CpuUsage) over the run, sender and both receivers together (they all run here), per message sent; send_calls_per_message = the sender's send system calls per message, receive_calls_per_message = both receivers' receive system calls together (raw: one sendto and one recv per datagram). On a shared machine throughput follows the CPU a run gets; CPU per message does not.");
        report.Notes.Add("ratios: reliable_udp_vs_raw = the reliable channel (default: batched, offload) vs per-datagram raw UDP; reliable_udp_vs_raw_segmented = the same vs raw UDP using the same segmentation offload; reliable_udp_no_offload_vs_raw_batched = the channel with Cluster:Udp:Offload=false vs raw sendmmsg/recvmmsg without offload. '_median' = the medians' ratio.");

        RawLatency(report, size, rate, duration, cancellationToken);
        await ReliableAsync(report, size, rate, duration, arguments, cancellationToken);

        // The other peers, in this same run: 64 KiB messages, libzmq epgm:// and norm://, and our ZeroMQ transport.
        if (arguments.Get("peers") != "none")
        {
            await MergeAsync(report, new TransportPeersScenario(), "peers", cancellationToken);
            await MergeAsync(report, new ZeroMqScenario(), "zeromq", cancellationToken);
        }
        return report;
    }

    /// <summary>Runs another scenario with its defaults and adds its figures, ratios and notes under a prefix.</summary>
    private static async Task MergeAsync(BenchReport report, IBenchScenario part, string prefix, CancellationToken cancellationToken)
    {
        Console.Error.WriteLine($"transport: running {part.Name} ...");
        var sub = await part.RunAsync(BenchArguments.Parse([]), cancellationToken);
        foreach (var result in sub.Results)
        {
            result.Name = $"{prefix}.{result.Name}";
            report.Results.Add(result);
        }
        foreach (var (name, ratio) in sub.Ratios)
            report.Ratios.TryAdd(name, ratio);
        report.Notes.AddRange(sub.Notes.Select(n => $"{prefix}: {n}"));
    }

    /// <summary>The best runs' ratio under <paramref name="name"/>, and the medians' under name_median.</summary>
    private static void AddRatios(BenchReport report, string name, BenchResult subject, BenchResult baseline)
    {
        report.Ratios[name] = subject.Figures["messages_per_s"] / baseline.Figures["messages_per_s"];
        report.Ratios[name + "_median"] = subject.Figures["median_messages_per_s"] / baseline.Figures["median_messages_per_s"];
    }

    private static double CpuRatio(BenchResult subject, BenchResult baseline) =>
        subject.Figures["cpu_us_per_message"] / baseline.Figures["cpu_us_per_message"];

    /// <summary>The run with the highest messages_per_s, with every run's figure and the median.</summary>
    private static BenchResult Best(List<BenchResult> runs)
    {
        var sorted = runs.Select(r => r.Figures["messages_per_s"]).Order().ToList();
        var best = runs.MaxBy(r => r.Figures["messages_per_s"])!;
        for (var i = 0; i < runs.Count; i++)
            best.Set($"run{i + 1}_messages_per_s", runs[i].Figures["messages_per_s"]);
        best.Set("median_messages_per_s", sorted[sorted.Count / 2]);
        return best;
    }

    private static BenchResult RawThroughput(int size, TimeSpan duration, int senders, CancellationToken cancellationToken)
    {
        using var raw = new RawMulticast(Receivers, BufferBytes);
        long sent = 0;
        var cpu = Environment.CpuUsage.TotalTime;
        var start = Stopwatch.GetTimestamp();
        var clock = Stopwatch.StartNew();
        // Several threads may blast through the one socket: the reliable channel also transmits from more than one
        // thread (the caller and its flush loop), so one blasting thread would not be the ceiling.
        var threads = Enumerable.Range(0, senders).Select(_ => new Thread(() =>
        {
            var message = new byte[size];
            long mine = 0;
            while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
            {
                for (var i = 0; i < 256; i++)
                {
                    BenchNetwork.Stamp(message, mine++);
                    raw.Send(message);
                }
            }
            Interlocked.Add(ref sent, mine);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        var sendSeconds = clock.Elapsed.TotalSeconds;
        raw.WaitQuiet(TimeSpan.FromMilliseconds(200));
        var cpuSeconds = (Environment.CpuUsage.TotalTime - cpu).TotalSeconds;

        var perReceiver = raw.Receivers.Select(r => r.Received / Stopwatch.GetElapsedTime(start, r.LastTimestamp).TotalSeconds).ToArray();
        var received = raw.Receivers.Min(r => r.Received);
        var result = new BenchResult { Name = "raw_udp_multicast_throughput" }
            .Set("sender_threads", senders)
            .Set("messages_sent", sent)
            .Set("sent_per_s", sent / sendSeconds)
            .Set("messages_per_s", perReceiver.Min())
            .Set("loss_pct", 100.0 * (sent - received) / sent);
        result.Set("mb_per_s", result.Figures["messages_per_s"] * size / 1e6);
        // One sendto(2) per datagram, one recv per datagram per receiver (received counts only what arrived).
        SetCosts(result, sent, cpuSeconds, sent, raw.Receivers.Sum(r => r.Received));
        return result;
    }

    private static void RawLatency(BenchReport report, int size, double rate, TimeSpan duration, CancellationToken cancellationToken)
    {
        using var raw = new RawMulticast(Receivers, BufferBytes);
        var latencies = new Latencies((int)(rate * duration.TotalSeconds * Receivers) + 16);
        foreach (var receiver in raw.Receivers)
            receiver.OnMessage = m => latencies.Add(BenchNetwork.AgeOf(m));
        var message = new byte[size];
        var sent = BenchNetwork.Paced(rate, duration, i =>
        {
            BenchNetwork.Stamp(message, i);
            raw.Send(message);
        }, cancellationToken);
        raw.WaitQuiet(TimeSpan.FromMilliseconds(200));

        var result = report.Add("raw_udp_multicast_latency").Set("offered_per_s", rate).Set("messages_sent", sent);
        result.Set("loss_pct", 100.0 * (sent * Receivers - latencies.Count) / (sent * Receivers));
        latencies.Report(result);
    }
}
