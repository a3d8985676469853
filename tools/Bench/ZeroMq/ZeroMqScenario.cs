using System.Diagnostics;
using System.Globalization;
using Multicast.Bench.TransportPeers;
using Multicast.Bench.ZeroMq.Libzmq;
using NetMQ;

namespace Multicast.Bench.ZeroMq;

/// <summary>
/// 1 KiB messages, 1 sender to 2 receivers, on loopback, in one run: raw NetMQ PUB/SUB (the NetMQ transport's
/// ceiling), raw libzmq PUB/SUB (the reference implementation, Debian's libzmq5), the reliable group channel over the
/// NetMQ transport (with and without CURVE), and the reliable channel over UDP multicast.
/// </summary>
internal sealed class ZeroMqScenario : IBenchScenario
{
    private const int Receivers = 2;

    public string Name => "zeromq";

    public string Description => "raw NetMQ PUB/SUB vs raw libzmq PUB/SUB vs the reliable channel over NetMQ (and with CURVE) vs over UDP (1 KiB, 1 -> 2, loopback) [--size B --seconds S --rate MSG/S --zmq-hwm N --only a,b]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var size = arguments.GetInt("size", 1024);
        var duration = TimeSpan.FromSeconds(arguments.GetDouble("seconds", 2));
        var rate = arguments.GetDouble("rate", 10_000);
        var highWaterMark = arguments.GetInt("zmq-hwm", Multicast.Transports.ZeroMq.ZeroMqTransportOptions.DefaultHighWaterMark);
        var only = arguments.Get("only")?.Split(',') ?? ["netmq_pubsub", "libzmq_pubsub", "reliable_netmq", "reliable_netmq_curve", "reliable_udp"];
        var report = new BenchReport();
        string libzmq;
        try
        {
            libzmq = LibzmqPeers.LibraryVersion().ToString();
        }
        catch (LibzmqException e)
        {
            libzmq = "not installed";
            only = [.. only.Where(p => p != "libzmq_pubsub")];
            report.Notes.Add($"libzmq_pubsub: not measured: {e.Message}");
        }
        var netmq = typeof(NetMQPoller).Assembly.GetName().Version;
        report.Notes.Add($"{size}-byte messages, 1 sender -> {Receivers} receivers in one process on 127.0.0.1; NetMQ {netmq} ({NetMQConfig.ThreadPoolSize} I/O thread for the whole process), libzmq {libzmq} (one context, so one I/O thread, per socket).");
        report.Notes.Add($"Throughput of the reliable channels: the sender broadcasts for {duration.TotalSeconds} s as fast as its send window allows (the window is the flow control), nothing may be lost; messages_per_s = the slower receiver's count / time to its last message.");
        report.Notes.Add("Throughput of raw PUB/SUB (NetMQ, libzmq): no flow control, PUB drops past its high-water mark (100,000), so the figure is the best offered rate delivered with at most 1% loss (from 1,000 msg/s, doubling per step); *_flat_throughput is the same PUB sending as fast as it takes messages: what reaches the slower receiver, and how much was lost.");
        report.Notes.Add($"Latency: publish -> delivered (Stopwatch stamp in the message), over both receivers, at {rate} msg/s offered.");

        var throughput = new Dictionary<string, double>();
        var cpuPerMessage = new Dictionary<string, double>();
        var cpuPerDelivered = new Dictionary<string, double>();
        foreach (var peer in only)
        {
            Console.Error.WriteLine($"zeromq: {peer} ...");
            try
            {
                await using (var group = await CreateAsync(peer, size, highWaterMark, cancellationToken))
                {
                    var cpu = CpuClock.Start();
                    throughput[peer] = await TransportPeersScenario.ThroughputAsync(report, group, $"{peer}_throughput", size, duration, cancellationToken);
                    if (!group.Lossy)
                        cpuPerMessage[peer] = cpuPerDelivered[peer] = cpu.Into(report, $"{peer}_throughput");
                }
                if (peer.EndsWith("_pubsub", StringComparison.Ordinal))
                {
                    await using var group = await CreateAsync(peer, size, highWaterMark, cancellationToken);
                    var cpu = CpuClock.Start();
                    await TransportPeersScenario.ThroughputAsync(report, group, $"{peer}_flat_throughput", size, duration, cancellationToken, sweep: false);
                    cpuPerMessage[peer] = cpu.Into(report, $"{peer}_flat_throughput");
                    cpuPerDelivered[peer] = report.Results.Last().Figures.GetValueOrDefault("cpu_us_per_delivered_message", double.NaN);
                }
                await using (var group = await CreateAsync(peer, size, highWaterMark, cancellationToken))
                    await TransportPeersScenario.LatencyAsync(report, group, $"{peer}_latency", size, rate, duration, cancellationToken);
            }
            catch (Exception ex) when (ex is TimeoutException or LibzmqException)
            {
                report.Notes.Add($"{peer}: not measured: {ex.Message}");
            }
            if (arguments.Json is { } partial)
                await report.WriteJsonAsync(partial);
        }

        double Ratio(string a, string b) => throughput.TryGetValue(a, out var x) && throughput.TryGetValue(b, out var y) && y > 0 ? x / y : double.NaN;
        report.Ratios["reliable_netmq_vs_netmq_pubsub_throughput"] = Ratio("reliable_netmq", "netmq_pubsub");
        report.Ratios["netmq_pubsub_vs_libzmq_pubsub_throughput"] = Ratio("netmq_pubsub", "libzmq_pubsub");
        report.Ratios["reliable_netmq_vs_libzmq_pubsub_throughput"] = Ratio("reliable_netmq", "libzmq_pubsub");
        report.Ratios["reliable_netmq_vs_reliable_udp_throughput"] = Ratio("reliable_netmq", "reliable_udp");
        report.Ratios["reliable_netmq_curve_vs_reliable_netmq_throughput"] = Ratio("reliable_netmq_curve", "reliable_netmq");
        double CpuRatio(string a, string b) => cpuPerMessage.TryGetValue(a, out var x) && cpuPerMessage.TryGetValue(b, out var y) && y > 0 ? x / y : double.NaN;
        report.Ratios["reliable_netmq_vs_netmq_pubsub_cpu_per_message"] = CpuRatio("reliable_netmq", "netmq_pubsub");
        report.Ratios["netmq_pubsub_vs_libzmq_pubsub_cpu_per_message"] = CpuRatio("netmq_pubsub", "libzmq_pubsub");
        report.Ratios["reliable_netmq_vs_netmq_pubsub_cpu_per_delivered_message"] =
            cpuPerDelivered.TryGetValue("reliable_netmq", out var r) && cpuPerDelivered.TryGetValue("netmq_pubsub", out var n) && n > 0 ? r / n : double.NaN;
        report.Ratios["reliable_netmq_vs_reliable_udp_cpu_per_message"] = CpuRatio("reliable_netmq", "reliable_udp");
        report.Notes.Add("Goal: reliable_netmq_vs_netmq_pubsub_throughput >= 0.8.");
        report.Notes.Add("cpu_us_per_delivered_message: the same CPU time per message the slower receiver got (raw PUB/SUB drops the rest; a reliable channel delivers every one, so there the two agree). Datagrams per ZeroMQ message (transport_datagrams_per_message): the channel flushes its queue as batches, which the NetMQ transport sends as batch frames (docs/zeromq.md).");
        report.Notes.Add("cpu_us_per_message: the whole process's CPU time (user + system, every thread: sender, receivers, NetMQ's I/O thread, the JIT) over a send-as-fast-as-it-goes run, per message sent; cpu_cores: that CPU time / wall time, how much of the machine the run got. On a shared machine throughput follows cpu_cores; the CPU per message does not.");
        return report;
    }

    private static async Task<PeerGroup> CreateAsync(string peer, int size, int highWaterMark, CancellationToken cancellationToken) => peer switch
    {
        "netmq_pubsub" => new NetMqPubSubPeers(Receivers, size),
        "libzmq_pubsub" => new LibzmqPeers("tcp", Receivers, 0, size),
        "reliable_netmq" => await ReliablePeers.StartNetMqAsync(Receivers, cancellationToken, highWaterMark: highWaterMark),
        "reliable_netmq_curve" => await ReliablePeers.StartNetMqAsync(Receivers, cancellationToken, new NetMQCertificate().SecretKeyZ85, highWaterMark),
        "reliable_udp" => await ReliablePeers.StartUdpAsync(Receivers, cancellationToken),
        _ => throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"unknown peer {peer}"), nameof(peer)),
    };

    /// <summary>The process's CPU time and the wall clock from the start of a run.</summary>
    private readonly record struct CpuClock(TimeSpan Cpu, long Wall)
    {
        public static CpuClock Start() => new(ProcessCpu(), Stopwatch.GetTimestamp());

        /// <summary>Adds cpu_us_per_message and cpu_cores to the result <paramref name="name"/>; returns the former.</summary>
        public double Into(BenchReport report, string name)
        {
            var cpu = ProcessCpu() - Cpu;
            var wall = Stopwatch.GetElapsedTime(Wall);
            var result = report.Results.Last(r => r.Name == name);
            var perMessage = result.Figures.TryGetValue("messages_sent", out var sent) && sent > 0 ? cpu.TotalMicroseconds / sent : double.NaN;
            result.Set("cpu_us_per_message", perMessage).Set("cpu_cores", cpu / wall);
            // A lossy run (raw PUB/SUB flat out) spends CPU on messages it then drops: per message that reached the
            // slower receiver is the figure to hold against a reliable channel's (which delivers every one).
            if (result.Figures.TryGetValue("delivered_fraction", out var delivered) && delivered > 0)
                result.Set("cpu_us_per_delivered_message", perMessage / delivered);
            return perMessage;
        }

        private static TimeSpan ProcessCpu()
        {
            using var process = Process.GetCurrentProcess();
            return process.TotalProcessorTime;
        }
    }
}
