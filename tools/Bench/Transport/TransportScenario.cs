using System.Diagnostics;

namespace Multicast.Bench.Transport;

/// <summary>
/// 1 KiB messages, 1 sender to 2 receivers, on loopback, in one run: raw UDP multicast (the ceiling) and the
/// reliable group channel over <see cref="Transports.Udp.UdpMulticastTransport"/>.
/// </summary>
internal sealed partial class TransportScenario : IBenchScenario
{
    private const int Receivers = 2;
    private const int BufferBytes = 4 * 1024 * 1024;

    public string Name => "transport";

    public string Description => "raw UDP multicast vs the reliable channel over UDP (1 KiB, 1 -> 2, loopback) [--size B --seconds S --rate MSG/S]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var size = arguments.GetInt("size", 1024);
        var duration = TimeSpan.FromSeconds(arguments.GetDouble("seconds", 3));
        var rate = arguments.GetDouble("rate", 10_000);
        var report = new BenchReport();
        report.Notes.Add($"{size}-byte messages, 1 sender -> {Receivers} receivers in one process on 127.0.0.1; throughput runs send as fast as possible for {duration.TotalSeconds} s; latency runs offer {rate} msg/s; latency = publish -> delivered (Stopwatch), over both receivers.");

        var raw = RawThroughput(report, size, duration, cancellationToken);
        RawLatency(report, size, rate, duration, cancellationToken);
        await ReliableAsync(report, raw, size, rate, duration, cancellationToken);
        return report;
    }

    private static double RawThroughput(BenchReport report, int size, TimeSpan duration, CancellationToken cancellationToken)
    {
        using var raw = new RawMulticast(Receivers, BufferBytes);
        var message = new byte[size];
        long sent = 0;
        var start = Stopwatch.GetTimestamp();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
        {
            for (var i = 0; i < 256; i++)
            {
                BenchNetwork.Stamp(message, sent++);
                raw.Send(message);
            }
        }
        var sendSeconds = clock.Elapsed.TotalSeconds;
        raw.WaitQuiet(TimeSpan.FromMilliseconds(200));

        var perReceiver = raw.Receivers.Select(r => r.Received / Stopwatch.GetElapsedTime(start, r.LastTimestamp).TotalSeconds).ToArray();
        var received = raw.Receivers.Min(r => r.Received);
        var result = report.Add("raw_udp_multicast_throughput")
            .Set("messages_sent", sent)
            .Set("sent_per_s", sent / sendSeconds)
            .Set("messages_per_s", perReceiver.Min())
            .Set("loss_pct", 100.0 * (sent - received) / sent);
        result.Set("mb_per_s", result.Figures["messages_per_s"] * size / 1e6);
        return perReceiver.Min();
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
