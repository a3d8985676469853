using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Multicast.Bench.TransportPeers;

namespace Multicast.Bench.Loss;

/// <summary>
/// The reliable channel (1 sender -> 2 receivers, UDP multicast) under 0%, 1% and 10% datagram loss: each level runs
/// in a child Bench process inside a private network namespace whose loopback drops that share of incoming UDP
/// datagrams at random (iptables -m statistic). Delivered fraction (must be 1.0), throughput relative to lossless,
/// and publish -> delivered latency at a fixed rate (its tail is the repair latency).
/// </summary>
internal sealed class LossScenario : IBenchScenario
{
    private const int Receivers = 2;

    public string Name => "loss";

    public string Description => "reliable channel under 0/1/10% datagram loss (network namespace + iptables; root) [--seconds S --rate MSG/S]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var duration = TimeSpan.FromSeconds(arguments.GetDouble("seconds", 2));
        var rate = arguments.GetDouble("rate", 2_000);
        if (arguments.Get("inner") is { } label)
            return await InnerAsync(label, duration, rate, cancellationToken);

        var report = new BenchReport();
        report.Notes.Add($"1 KiB messages, 1 sender -> {Receivers} receivers in one process inside a private network namespace (loopback only); loss = iptables -A INPUT -p udp -m statistic --mode random --probability P -j DROP on that namespace.");
        report.Notes.Add("On loopback one multicast datagram crosses INPUT once for all local receivers, so both receivers lose the same datagrams (correlated loss); NAKs, acks, repairs and heartbeats are dropped at the same rate.");
        report.Notes.Add($"throughput: send as fast as the channel admits for {duration.TotalSeconds} s; delivered_fraction = the slower receiver's count / sent. latency: {rate} msg/s offered for {duration.TotalSeconds} s; p99/p99.9 under loss = repair latency.");
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            report.Notes.Add("not measured: needs root on Linux (ip netns, iptables)");
            return report;
        }

        var throughput = new Dictionary<string, double>();
        foreach (var (name, probability) in new[] { ("lossless", 0.0), ("loss_1pct", 0.01), ("loss_10pct", 0.10) })
        {
            Console.Error.WriteLine($"loss: {name} ...");
            var ns = $"mcbench{Environment.ProcessId % 100000}{name.Length}";
            var json = Path.Combine(Path.GetTempPath(), $"bench-loss-{Guid.NewGuid():N}.json");
            try
            {
                await RunAsync("ip", ["netns", "add", ns], cancellationToken);
                await RunAsync("ip", ["-n", ns, "link", "set", "lo", "up"], cancellationToken);
                if (probability > 0)
                {
                    await RunAsync("ip", ["netns", "exec", ns, "iptables", "-w", "-A", "INPUT", "-p", "udp", "-m", "statistic", "--mode", "random",
                        "--probability", probability.ToString(CultureInfo.InvariantCulture), "-j", "DROP"], cancellationToken);
                }
                var child = new List<string> { "netns", "exec", ns, Environment.ProcessPath ?? "dotnet" };
                if (Path.GetFileNameWithoutExtension(Environment.ProcessPath ?? "dotnet") == "dotnet")
                    child.Add(typeof(LossScenario).Assembly.Location);
                child.AddRange(["loss", "--inner", name, "--seconds", duration.TotalSeconds.ToString(CultureInfo.InvariantCulture),
                    "--rate", rate.ToString(CultureInfo.InvariantCulture), "--json", json]);
                await RunAsync("ip", [.. child], cancellationToken, TimeSpan.FromSeconds(90));
                throughput[name] = Merge(report, json, name);
            }
            catch (InvalidOperationException ex)
            {
                report.Notes.Add($"{name}: not measured: {ex.Message}");
            }
            finally
            {
                await RunAsync("ip", ["netns", "del", ns], CancellationToken.None, throwOnError: false);
                File.Delete(json);
            }
        }
        foreach (var name in new[] { "loss_1pct", "loss_10pct" })
        {
            report.Ratios[$"{name}_vs_lossless_throughput"] = throughput.TryGetValue(name, out var x) && throughput.TryGetValue("lossless", out var y) ? x / y : double.NaN;
            var delivered = report.Results.FirstOrDefault(r => r.Name == $"{name}_throughput")?.Figures.GetValueOrDefault("delivered_fraction", double.NaN) ?? double.NaN;
            report.Ratios[$"{name}_delivered_fraction"] = delivered;
        }
        return report;
    }

    private static async Task<BenchReport> InnerAsync(string label, TimeSpan duration, double rate, CancellationToken cancellationToken)
    {
        var report = new BenchReport();
        await using (var group = await ReliablePeers.StartUdpAsync(Receivers, cancellationToken))
            await TransportPeersScenario.ThroughputAsync(report, group, $"{label}_throughput", 1024, duration, cancellationToken);
        await using (var group = await ReliablePeers.StartUdpAsync(Receivers, cancellationToken))
            await TransportPeersScenario.LatencyAsync(report, group, $"{label}_latency", 1024, rate, duration, cancellationToken);
        return report;
    }

    /// <summary>Adds the child's results; returns its throughput (messages_per_s).</summary>
    private static double Merge(BenchReport report, string json, string name)
    {
        if (!File.Exists(json))
            throw new InvalidOperationException("the child wrote no report");
        using var document = JsonDocument.Parse(File.ReadAllBytes(json));
        var throughput = double.NaN;
        foreach (var element in document.RootElement.GetProperty("results").EnumerateArray())
        {
            var result = report.Add(element.GetProperty("name").GetString()!);
            foreach (var figure in element.GetProperty("figures").EnumerateObject())
                result.Set(figure.Name, figure.Value.ValueKind == JsonValueKind.Number ? figure.Value.GetDouble() : double.NaN);
            if (result.Name == $"{name}_throughput")
                throughput = result.Figures.GetValueOrDefault("messages_per_s", double.NaN);
        }
        return throughput;
    }

    private static async Task RunAsync(string file, string[] arguments, CancellationToken cancellationToken, TimeSpan? limit = null, bool throwOnError = true)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var error = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(limit ?? TimeSpan.FromSeconds(20));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} did not finish in time");
        }
        if (process.ExitCode != 0 && throwOnError)
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited {process.ExitCode}: {await output}{await error}");
    }
}
