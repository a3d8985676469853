using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Multicast.Soak;

/// <summary>The soak: steady load, a fault every minute, memory over time, a report.</summary>
internal sealed class SoakRun(SoakOptions options, TextWriter log)
{
    /// <summary>The host's default suspect timeout: a pause lasts twice as long.</summary>
    private static readonly TimeSpan Suspect = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan PartitionTime = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan KilledFor = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RecoveryTimeout = TimeSpan.FromSeconds(90);
    private static readonly string[] Kinds = ["kill", "pause", "graceful restart", "partition"];

    private readonly Stopwatch _clock = new();
    private readonly List<FaultRecord> _faults = [];

    private sealed record FaultRecord(TimeSpan At, string Kind, string Node, TimeSpan? RecoveredAfter, string Note);

    public static async Task<int> MainAsync(string[] args)
    {
        SoakOptions options;
        try
        {
            options = SoakOptions.Parse(args);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
        {
            Console.Error.WriteLine($"Soak: {ex.Message}");
            Console.Error.WriteLine(SoakOptions.Usage);
            return 2;
        }
        try
        {
            return await new SoakRun(options, Console.Out).RunAsync();
        }
        catch (InvalidOperationException ex)
        {
            Console.Error.WriteLine($"Soak: {ex.Message}");
            return 2;
        }
    }

    private async Task<int> RunAsync()
    {
        var repo = RepositoryRoot();
        var (hostDll, loadCheckDll) = Builds(repo);
        var loadAverage = File.Exists("/proc/loadavg") ? (await File.ReadAllTextAsync("/proc/loadavg")).Split(' ')[0] : "?";
        log.WriteLine($"Soak: {options.Store} store, {options.Duration.TotalMinutes:0.#} min, a fault every {options.FaultEvery.TotalSeconds:0} s");
        await using var cluster = await SoakCluster.StartAsync(repo, hostDll, options.Store, log);
        using var sampler = new MemorySampler(cluster.Nodes, options.Sample);
        var json = Path.Combine(Path.GetTempPath(), $"soak-{Guid.NewGuid():N}.json");
        _clock.Start();
        using var load = StartLoadCheck(loadCheckDll, cluster, json);
        var stdout = load.StandardOutput.ReadToEndAsync();
        var stderr = load.StandardError.ReadToEndAsync();

        var sampling = SampleAsync(sampler, load);
        for (var k = 0; ; k++)
        {
            var due = options.FaultEvery * (k + 1);
            if (due + PartitionTime + TimeSpan.FromSeconds(20) > options.Duration)
                break;
            await Task.Delay(due - _clock.Elapsed > TimeSpan.Zero ? due - _clock.Elapsed : TimeSpan.Zero); // the soak's timeline
            if (load.HasExited)
                break;
            await FaultAsync(cluster, Kinds[k % Kinds.Length], cluster.Nodes[k % cluster.Nodes.Count]);
        }
        await load.WaitForExitAsync();
        await sampling;
        var output = await stdout + await stderr;
        log.WriteLine(output);
        var figures = File.Exists(json) ? JsonSerializer.Deserialize<Dictionary<string, double>>(await File.ReadAllTextAsync(json)) ?? [] : [];
        File.Delete(json);

        var report = Report(load.ExitCode, output, figures, sampler.Readings, loadAverage, repo);
        log.WriteLine(report);
        await WriteSectionAsync(Path.IsPathRooted(options.Out) ? options.Out : Path.Combine(repo, options.Out), report);
        return load.ExitCode == 0 ? 0 : 1;
    }

    private Process StartLoadCheck(string dll, SoakCluster cluster, string json)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])[dll, "--urls", string.Join(',', cluster.Nodes.Select(n => n.Url.ToString())), "--clients", $"{options.Clients}",
            "--duration", $"{(int)options.Duration.TotalSeconds}", "--reads", options.Reads.ToString(CultureInfo.InvariantCulture), "--strict", "--check-reads",
            "--progress", "30", "--json", json])
            info.ArgumentList.Add(a);
        return Process.Start(info) ?? throw new InvalidOperationException("could not start LoadCheck");
    }

    private async Task SampleAsync(MemorySampler sampler, Process load)
    {
        while (!load.HasExited)
        {
            sampler.Sample(_clock.Elapsed);
            await Task.Delay(options.Sample); // the sampling period
        }
        sampler.Sample(_clock.Elapsed);
    }

    private async Task FaultAsync(SoakCluster cluster, string kind, SoakNode node)
    {
        var at = _clock.Elapsed;
        log.WriteLine($"[{at.TotalSeconds,6:0.0}s] {kind} {node.NodeId}");
        var note = string.Empty;
        switch (kind)
        {
            case "kill":
                node.Kill();
                await Task.Delay(KilledFor); // down this long before it restarts
                node.Start();
                break;
            case "pause":
                node.Pause();
                await Task.Delay(2 * Suspect); // frozen this long: past the suspect timeout
                node.Resume();
                break;
            case "graceful restart":
                note = await node.TerminateAsync(TimeSpan.FromSeconds(30)) ? string.Empty : "did not stop within 30 s of SIGTERM (killed)";
                node.Start();
                break;
            case "partition":
                cluster.CutUdp(node, cut: true);
                await Task.Delay(PartitionTime); // cut off this long
                cluster.CutUdp(node, cut: false);
                break;
        }
        var healthy = await node.WaitHealthyAsync(cluster.Http, RecoveryTimeout) && await cluster.WaitForMembersAsync(3, RecoveryTimeout);
        var recovered = healthy ? _clock.Elapsed - at : (TimeSpan?)null;
        log.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:0.0}s] {(healthy ? "back in one view of three" : "NOT back within " + RecoveryTimeout.TotalSeconds + " s")}");
        _faults.Add(new FaultRecord(at, kind, node.NodeId, recovered, healthy ? note : (note + " " + node.Tail.Split('\n').LastOrDefault()).Trim()));
    }

    private string Report(int exitCode, string output, Dictionary<string, double> figures, List<MemorySampler.Reading> readings, string loadAverage, string repo)
    {
        var b = new StringBuilder();
        var verdict = output.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("PASS:", StringComparison.Ordinal) || l.StartsWith("FAIL:", StringComparison.Ordinal)) ?? "(no verdict: LoadCheck did not finish)";
        double F(string key) => figures.TryGetValue(key, out var v) ? v : double.NaN;
        b.AppendLine(CultureInfo.InvariantCulture, $"## {options.Store} store");
        b.AppendLine();
        b.AppendLine(CultureInfo.InvariantCulture, $"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC at commit `{Git(repo, "rev-parse", "--short", "HEAD")}`, {Environment.ProcessorCount} cores, load average {loadAverage} at the start:");
        b.AppendLine();
        b.AppendLine("```");
        b.AppendLine($"sudo dotnet run --project tools/Soak -c Release -- {options.CommandLine}".TrimEnd());
        b.AppendLine("```");
        b.AppendLine();
        b.AppendLine(CultureInfo.InvariantCulture, $"**Verdict: {(exitCode == 0 ? "PASS" : "FAIL")}** — LoadCheck (`--strict --check-reads`: a 503 counts as not applied, a read below the client's acknowledged count is stale): {verdict}");
        b.AppendLine();
        b.AppendLine("| requests/s | writes acknowledged | reads | p50 ms | p99 ms | max ms | 5xx answers | of them 503 | unknown outcome | violations |");
        b.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        b.AppendLine(CultureInfo.InvariantCulture, $"| {F("requests_per_s"):0} | {F("writes_acked"):0} | {F("reads_answered"):0} | {F("p50_ms"):0.0} | {F("p99_ms"):0.0} | {F("max_ms"):0} | {F("answers_5xx"):0} | {F("answers_503"):0} | {F("unknown"):0} | {F("violations"):0} |");
        b.AppendLine();
        b.AppendLine("Faults (the node is back when it is healthy and every node sees three members):");
        b.AppendLine();
        b.AppendLine("| at | fault | node | back after | note |");
        b.AppendLine("|---|---|---|---|---|");
        foreach (var f in _faults)
            b.AppendLine(CultureInfo.InvariantCulture, $"| {f.At.TotalSeconds:0} s | {f.Kind} | {f.Node} | {(f.RecoveredAfter is { } r ? $"{r.TotalSeconds:0.0} s" : "**not back**")} | {f.Note} |");
        b.AppendLine();
        b.AppendLine("Managed heap (the runtime's gc-heap-size) / RSS in MiB, every 30 s; `*` marks a new incarnation (restarted):");
        b.AppendLine();
        var nodes = readings.Select(r => r.Node).Distinct().Order().ToList();
        b.AppendLine("| t | " + string.Join(" | ", nodes.Select(n => $"node{n + 1}")) + " |");
        b.AppendLine("|---|" + string.Concat(nodes.Select(_ => "---|")));
        var step = Math.Max(1, (int)Math.Round(30 / options.Sample.TotalSeconds));
        var times = readings.Select(r => r.At).Distinct().Order().ToList();
        var seen = new Dictionary<int, int>();
        for (var i = 0; i < times.Count; i++)
        {
            var row = readings.Where(r => r.At == times[i]).ToDictionary(r => r.Node);
            var restarted = row.Values.Any(r => seen.TryGetValue(r.Node, out var inc) && inc != r.Incarnation);
            foreach (var r in row.Values)
                seen[r.Node] = r.Incarnation;
            if (i % step != 0 && i != times.Count - 1 && !restarted)
                continue;
            var at = times[i];
            string Cell(int n)
            {
                if (!row.TryGetValue(n, out var r))
                    return "–";
                var heap = r.HeapMiB is { } h ? h.ToString("0.0", CultureInfo.InvariantCulture) : "–";
                var rss = r.RssMiB is { } m ? m.ToString("0", CultureInfo.InvariantCulture) : "–";
                var restart = r.Incarnation > 1 && readings.First(x => x.Node == n && x.Incarnation == r.Incarnation).At == at ? " *" : string.Empty;
                return $"{heap} / {rss}{restart}";
            }
            b.AppendLine($"| {at.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s | {string.Join(" | ", nodes.Select(Cell))} |");
        }
        b.AppendLine();
        b.AppendLine("Per incarnation that lived at least three minutes: heap and RSS at its first and last reading:");
        b.AppendLine();
        foreach (var g in readings.GroupBy(r => (r.Node, r.Incarnation)).Where(g => g.Last().At - g.First().At >= TimeSpan.FromMinutes(3)))
        {
            var withHeap = g.Where(r => r.HeapMiB is not null).ToList();
            var first = withHeap.FirstOrDefault(r => r.At - g.First().At >= TimeSpan.FromSeconds(30)) ?? withHeap.FirstOrDefault();
            var last = withHeap.LastOrDefault();
            if (first is null || last is null)
                continue;
            b.AppendLine(CultureInfo.InvariantCulture, $"- node{g.Key.Node + 1} (incarnation {g.Key.Incarnation}), {first.At.TotalSeconds:0} s → {last.At.TotalSeconds:0} s: heap {first.HeapMiB:0.0} → {last.HeapMiB:0.0} MiB, RSS {first.RssMiB:0} → {last.RssMiB:0} MiB");
        }
        var violations = output.Split('\n').Where(l => l.StartsWith("  client ", StringComparison.Ordinal)).Take(15).ToList();
        if (violations.Count > 0)
        {
            b.AppendLine();
            b.AppendLine("LoadCheck's first violations:");
            b.AppendLine();
            b.AppendLine("```");
            foreach (var v in violations)
                b.AppendLine(v.Trim());
            b.AppendLine("```");
        }
        return b.ToString();
    }

    /// <summary>Replaces this store's section of the report file (or appends it), keeping the others.</summary>
    private async Task WriteSectionAsync(string path, string section)
    {
        var heading = $"## {options.Store} store";
        var text = File.Exists(path) ? await File.ReadAllTextAsync(path) : "# Soak\n\nWritten by tools/Soak (see docs/faults.md). Each section is one run.\n\n";
        var start = text.IndexOf(heading + "\n", StringComparison.Ordinal);
        if (start >= 0)
        {
            var end = text.IndexOf("\n## ", start + heading.Length, StringComparison.Ordinal);
            text = text[..start] + section + (end >= 0 ? text[(end + 1)..] : string.Empty);
        }
        else
        {
            text = text.TrimEnd() + "\n\n" + section;
        }
        await File.WriteAllTextAsync(path, text.TrimEnd() + "\n");
        log.WriteLine($"report written to {path}");
    }

    private static string RepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Multicast.sln")))
                    return dir.FullName;
            }
        }
        throw new InvalidOperationException("Multicast.sln not found above the soak's directory or the current one");
    }

    /// <summary>The Host's and LoadCheck's build output of the soak's own configuration.</summary>
    private static (string Host, string LoadCheck) Builds(string repo)
    {
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var configuration = framework.Parent?.Name ?? "Release";
        var host = Path.Combine(repo, "Host", "bin", configuration, framework.Name, "Multicast.Host.dll");
        var loadCheck = Path.Combine(repo, "tools", "LoadCheck", "bin", configuration, framework.Name, "LoadCheck.dll");
        foreach (var dll in new[] { host, loadCheck })
        {
            if (!File.Exists(dll))
                throw new InvalidOperationException($"{dll} is not built (build tools/Soak: it builds the host and LoadCheck)");
        }
        return (host, loadCheck);
    }

    private static string Git(string repo, params string[] args)
    {
        try
        {
            var info = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = repo };
            foreach (var a in args)
                info.ArgumentList.Add(a);
            using var process = Process.Start(info)!;
            var text = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return process.ExitCode == 0 ? text : "?";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "?";
        }
    }
}
