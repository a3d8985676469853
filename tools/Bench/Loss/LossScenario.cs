using System.Diagnostics;
using System.Globalization;
using Multicast.Bench.Http;

namespace Multicast.Bench.Loss;

/// <summary>
/// The reliable channel (1 sender -> 2 receivers) over UDP multicast between network namespaces (tools/netns: one per
/// node on a bridge, so every receiver loses on its own), under 0%, 1% and 10% random datagram loss and under a burst
/// loss (one receiver's namespace drops everything for a while). Each node is a tools/NetProbe process. Per level:
/// delivered fraction (must be 1.0), throughput, publish -> delivered latency at a fixed rate (under loss its tail is
/// the repair latency), and what the repairs cost: retransmitted datagrams per data datagram the receivers lost
/// (iptables counts the drops; goal: at most 1.5).
/// </summary>
internal sealed class LossScenario : IBenchScenario
{
    private const int Receivers = 2;
    private const int Size = 1024;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    public string Name => "loss";

    public string Description => "reliable channel, 3 NetProbe processes in network namespaces, under 0/1/10% datagram loss and a burst loss (root) [--messages N --rate MSG/S --seconds S --burst-ms MS]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var messages = arguments.GetInt("messages", 20_000);
        var rate = arguments.GetDouble("rate", 2_000);
        var seconds = arguments.GetDouble("seconds", 5);
        var burst = TimeSpan.FromMilliseconds(arguments.GetDouble("burst-ms", 300));
        var report = new BenchReport();
        report.Notes.Add($"{Size}-byte messages, 1 sender -> {Receivers} receivers, each a tools/NetProbe process in its own network namespace (tools/netns/up.sh: veth pairs on one bridge, eth0 sends one datagram per packet: gso_max_segs 1); loss = iptables -m statistic --mode random on every node's INPUT, so each receiver loses independently; NAKs, acks, repairs and heartbeats are dropped at the same rate.");
        report.Notes.Add($"throughput: the sender broadcasts {messages} messages as fast as the send window admits; messages_per_s = the slower receiver's first-to-last delivery rate; delivered_fraction = the slower receiver's count / sent. latency: {rate} msg/s offered for {seconds} s; publish -> delivered over both receivers (the worse receiver's percentile).");
        report.Notes.Add("repair cost: lost_data_datagrams = lost_to_loss_rule (data datagrams, originals and repairs, the receivers' loss rules dropped: iptables -m u32 on the packet kind) + lost_in_full_receive_buffers (datagrams the receivers' kernels dropped because a socket buffer was full: Udp RcvbufErrors), both from tools/netns/drops.sh; retransmissions_per_lost = the sender's retransmissions / lost_data_datagrams (goal <= 1.5); duplicates = data packets the receivers got twice.");
        report.Notes.Add($"burst: no random loss; for the first {burst.TotalMilliseconds} ms of the throughput run receiver 1's namespace drops every UDP datagram (it loses the first send window whole, then must catch up by repair).");
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
        {
            report.Notes.Add("not measured: needs root on Linux (ip netns, iptables)");
            return report;
        }
        var root = HttpScenario.RepositoryRoot();
        var netProbe = await HttpScenario.EnsureBuiltAsync(root, "tools/NetProbe/NetProbe.csproj", "tools/NetProbe/bin/Release/net10.0/NetProbe.dll",
            ["tools/NetProbe", "Core", "Transports"], cancellationToken);
        var netns = Path.Combine(root, "tools", "netns");

        var throughput = new Dictionary<string, double>();
        var levels = new (string Name, double Loss, bool Burst)[] { ("lossless", 0, false), ("loss_1pct", 0.01, false), ("loss_10pct", 0.10, false), ("burst", 0, true) };
        for (var i = 0; i < levels.Length; i++)
        {
            var (name, loss, isBurst) = levels[i];
            Console.Error.WriteLine($"loss: {name} ...");
            var prefix = $"mcb{Environment.ProcessId % 10000}{i}";
            try
            {
                var namespaces = (await RunAsync("bash", [Path.Combine(netns, "up.sh"), prefix, "3", loss.ToString(CultureInfo.InvariantCulture)], cancellationToken))
                    .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).Select(p => (Namespace: p[0], Address: p[1])).ToList();
                var run = new Run(netProbe, netns, namespaces);
                var result = await run.MeasureAsync(report.Add($"{name}_throughput"), messages, 0, isBurst ? burst : null, cancellationToken);
                throughput[name] = result.Figures["messages_per_s"];
                if (!isBurst)
                    await run.MeasureAsync(report.Add($"{name}_latency"), (int)(rate * seconds), rate, null, cancellationToken);
            }
            catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
            {
                report.Notes.Add($"{name}: not measured: {ex.Message}");
            }
            finally
            {
                await RunAsync("bash", [Path.Combine(netns, "down.sh"), prefix], CancellationToken.None, throwOnError: false);
            }
        }
        foreach (var name in new[] { "loss_1pct", "loss_10pct", "burst" })
        {
            report.Ratios[$"{name}_vs_lossless_throughput"] = throughput.TryGetValue(name, out var x) && throughput.TryGetValue("lossless", out var y) ? x / y : double.NaN;
            var figures = report.Results.FirstOrDefault(r => r.Name == $"{name}_throughput")?.Figures;
            report.Ratios[$"{name}_delivered_fraction"] = figures?.GetValueOrDefault("delivered_fraction", double.NaN) ?? double.NaN;
            report.Ratios[$"{name}_retransmissions_per_lost"] = figures?.GetValueOrDefault("retransmissions_per_lost", double.NaN) ?? double.NaN;
        }
        return report;
    }

    /// <summary>One sender and two receivers in the namespaces of one level.</summary>
    private sealed class Run(string netProbe, string netns, List<(string Namespace, string Address)> nodes)
    {
        /// <summary>Sends <paramref name="messages"/> (at <paramref name="rate"/> per second, 0: as fast as admitted) and
        /// records what arrived, how fast, how late, and what the repairs cost.</summary>
        public async Task<BenchResult> MeasureAsync(BenchResult result, int messages, double rate, TimeSpan? blackout, CancellationToken cancellationToken)
        {
            var group = $"239.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(0, 256)}.{Random.Shared.Next(1, 255)}";
            var port = Random.Shared.Next(20000, 60000).ToString(CultureInfo.InvariantCulture);
            var probes = new List<ProbeNode>();
            try
            {
                for (var i = 0; i <= Receivers; i++)
                {
                    var role = i == 0 ? "sender" : "receiver";
                    var probe = ProbeNode.Start($"n{i}-{role}", nodes[i].Namespace, netProbe,
                    [
                        "--role", role, "--node-id", $"n{i}", "--interface", nodes[i].Address, "--group", group, "--port", port,
                        "--members", $"{Receivers + 1}", "--messages", $"{messages}", "--size", $"{Size}",
                        "--rate", rate.ToString(CultureInfo.InvariantCulture), "--timeout-seconds", $"{(int)(StartTimeout + RunTimeout).TotalSeconds}",
                    ]);
                    probes.Add(probe);
                    await probe.WaitForLineAsync("STARTED", StartTimeout, cancellationToken);
                }
                foreach (var probe in probes)
                    await probe.WaitForLineAsync("READY", StartTimeout, cancellationToken);
                var before = await DropsAsync(cancellationToken);
                if (blackout is not null)
                    await DarkAsync(nodes[1].Namespace, true, cancellationToken);
                probes[0].WriteLine("GO");
                if (blackout is { } length)
                {
                    await probes[0].WaitForLineAsync("SENDING", StartTimeout, cancellationToken);
                    await Task.Delay(length, cancellationToken);
                    await DarkAsync(nodes[1].Namespace, false, cancellationToken);
                }
                var lines = new List<string>();
                foreach (var probe in probes)
                    lines.Add(await probe.WaitForLineAsync("RESULT", RunTimeout, cancellationToken));
                var after = await DropsAsync(cancellationToken);
                if (lines.FirstOrDefault(l => !l.StartsWith("RESULT ok", StringComparison.Ordinal)) is { } failed)
                    throw new InvalidOperationException($"a node failed: {failed}");

                var sender = ProbeNode.Figures(lines[0]);
                var receivers = lines.Skip(1).Select(ProbeNode.Figures).ToList();
                var lostToRule = Enumerable.Range(1, Receivers).Sum(i => after[i].Data - before[i].Data);
                var lostInBuffers = Enumerable.Range(1, Receivers).Sum(i => after[i].ReceiveBuffer - before[i].ReceiveBuffer);
                var lostData = lostToRule + lostInBuffers;
                result.Set("messages_sent", messages)
                    .Set("offered_per_s", rate)
                    .Set("delivered_fraction", receivers.Min(r => r["received"]) / messages)
                    .Set("messages_per_s", receivers.Min(r => r["messages_per_s"]))
                    .Set("sender_ms", sender["send_ms"])
                    .Set("p50_ms", receivers.Max(r => r["latency_p50_ms"]))
                    .Set("p99_ms", receivers.Max(r => r["latency_p99_ms"]))
                    .Set("p99_9_ms", receivers.Max(r => r["latency_p99_9_ms"]))
                    .Set("max_ms", receivers.Max(r => r["latency_max_ms"]))
                    .Set("sender_datagrams_sent", sender["datagrams_sent"])
                    .Set("retransmissions", sender["retransmissions"])
                    .Set("multicast_repairs", sender["multicast_repairs"])
                    .Set("naks", sender["naks_received"])
                    .Set("duplicates", receivers.Sum(r => r["duplicates"]))
                    .Set("lost_data_datagrams", lostData)
                    .Set("lost_to_loss_rule", lostToRule)
                    .Set("lost_in_full_receive_buffers", lostInBuffers)
                    .Set("lost_other_datagrams", Enumerable.Range(0, Receivers + 1).Sum(i => after[i].Other - before[i].Other))
                    .Set("retransmissions_per_lost", lostData > 0 ? sender["retransmissions"] / lostData : double.NaN);
                return result;
            }
            finally
            {
                foreach (var probe in probes)
                    await probe.DisposeAsync();
            }
        }

        /// <summary>Per node: data and other datagrams its loss rule dropped, datagrams dropped for a full receive buffer.</summary>
        private async Task<List<(long Data, long Other, long ReceiveBuffer)>> DropsAsync(CancellationToken cancellationToken)
        {
            var drops = new List<(long, long, long)>();
            foreach (var (ns, _) in nodes)
            {
                var parts = (await RunAsync("bash", [Path.Combine(netns, "drops.sh"), ns], cancellationToken)).Split(' ', StringSplitOptions.TrimEntries);
                drops.Add((Number(parts[1]), Number(parts[3]), Number(parts[5])));
            }
            return drops;

            static long Number(string text) => long.Parse(text, CultureInfo.InvariantCulture);
        }

        /// <summary>Makes <paramref name="ns"/> drop every UDP datagram, or stop doing so (through chain MCLOSS, so drops.sh
        /// counts them).</summary>
        private static async Task DarkAsync(string ns, bool dark, CancellationToken cancellationToken)
        {
            string[] iptables = ["netns", "exec", ns, "iptables", "-w"];
            if (!dark)
            {
                await RunAsync("ip", [.. iptables, "-D", "INPUT", "-p", "udp", "-j", "MCLOSS"], cancellationToken);
                return;
            }
            await RunAsync("ip", [.. iptables, "-N", "MCLOSS"], cancellationToken);
            await RunAsync("ip", [.. iptables, "-A", "MCLOSS", "-m", "u32", "--u32", "0>>22&0x3C@8&0xFF=1:2", "-j", "DROP"], cancellationToken);
            await RunAsync("ip", [.. iptables, "-A", "MCLOSS", "-j", "DROP"], cancellationToken);
            await RunAsync("ip", [.. iptables, "-I", "INPUT", "1", "-p", "udp", "-j", "MCLOSS"], cancellationToken);
        }
    }

    /// <summary>Runs a command to its end; returns its standard output.</summary>
    private static async Task<string> RunAsync(string file, string[] arguments, CancellationToken cancellationToken, bool throwOnError = true)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var error = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(20));
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
        return await output;
    }
}
