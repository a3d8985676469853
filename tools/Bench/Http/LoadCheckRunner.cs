using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Multicast.Bench.Http;

/// <summary>
/// Runs tools/LoadCheck as its own process against one <see cref="AppGroup"/> and reads its JSON figures. While it
/// runs, the servers' CPU time (<see cref="ProcessCpu"/>) is sampled when LoadCheck prints its first line (the load
/// starts) and its "load done" line (the load stopped, before the final check), so <c>cpu_us_per_request</c> is the
/// servers' user + system time over the measured window divided by the requests answered in it.
/// </summary>
internal sealed class LoadCheckRunner(string loadCheckDll, string logs)
{
    public int Clients { get; init; } = 16;

    public double Seconds { get; init; } = 15;

    public double Reads { get; init; } = 50;

    /// <summary>The same load for another duration (a warm-up) or share of reads.</summary>
    public LoadCheckRunner For(double seconds, double? reads = null) => new(loadCheckDll, logs) { Clients = Clients, Reads = reads ?? Reads, Seconds = seconds };

    /// <summary>
    /// One load: every client to a random node, or (<paramref name="sticky"/>) each client to one node; the final
    /// check of every session on every node unless <paramref name="finalCheck"/> is false (for stores that do not
    /// share). The load goes to <paramref name="targets"/> (default: every app of the group); the CPU of every
    /// server process of the group counts. The result is not added to <paramref name="report"/>; LoadCheck's verdict
    /// is, as a note.
    /// </summary>
    public async Task<BenchResult> RunAsync(string name, AppGroup servers, bool sticky, bool finalCheck, BenchReport report, CancellationToken cancellationToken,
        IReadOnlyList<AppProcess>? targets = null)
    {
        Console.Error.WriteLine($"http: {name}: LoadCheck for {Seconds} s{(sticky ? ", sticky" : "")} ...");
        var json = Path.Combine(logs, $"{name}.json");
        File.Delete(json);
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
        {
            loadCheckDll, "--urls", string.Join(',', (targets ?? servers.Apps).Select(a => a.Url.ToString())), "--clients", Clients.ToString(CultureInfo.InvariantCulture),
            "--duration", Seconds.ToString(CultureInfo.InvariantCulture), "--reads", Reads.ToString(CultureInfo.InvariantCulture), "--json", json, "--progress", "1000",
        })
        {
            start.ArgumentList.Add(argument);
        }
        if (sticky)
            start.ArgumentList.Add("--sticky");
        if (!finalCheck)
        {
            start.ArgumentList.Add("--check");
            start.ArgumentList.Add("none");
        }

        // Per process: the group's apps, then the servers they share, then the load checker itself.
        var appCount = servers.Apps.Count;
        var sharedCount = servers.SharedServerProcessIds.Count();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start LoadCheck");
        int[] pids = [.. servers.ServerProcessIds, process.Id];
        var output = new StringBuilder();
        double[]? cpuStart = null, cpuEnd = null;
        long windowStart = 0, windowEnd = 0;
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        while (await process.StandardOutput.ReadLineAsync(cancellationToken) is { } line)
        {
            output.AppendLine(line);
            if (cpuStart is null && line.StartsWith("LoadCheck:", StringComparison.Ordinal))
                (cpuStart, windowStart) = (pids.Select(p => ProcessCpu.Seconds([p])).ToArray(), Stopwatch.GetTimestamp());
            else if (cpuEnd is null && line.Contains("] load done", StringComparison.Ordinal))
                (cpuEnd, windowEnd) = (pids.Select(p => ProcessCpu.Seconds([p])).ToArray(), Stopwatch.GetTimestamp());
        }
        await process.WaitForExitAsync(cancellationToken);
        output.Append(await error);
        await File.WriteAllTextAsync(Path.Combine(logs, $"{name}.loadcheck.log"), output.ToString(), cancellationToken);
        var verdict = output.ToString().Split('\n').LastOrDefault(l => l.StartsWith("PASS", StringComparison.Ordinal) || l.StartsWith("FAIL", StringComparison.Ordinal))?.Trim() ?? "(no verdict)";
        report.Notes.Add($"{name}: LoadCheck exit {process.ExitCode}: {verdict}");

        var result = new BenchResult { Name = name };
        if (File.Exists(json))
        {
            using var document = JsonDocument.Parse(await File.ReadAllBytesAsync(json, cancellationToken));
            foreach (var figure in document.RootElement.EnumerateObject())
                result.Set(figure.Name, figure.Value.ValueKind == JsonValueKind.Number ? figure.Value.GetDouble() : double.NaN);
        }
        if (cpuStart is not null && cpuEnd is not null && result.Figures.TryGetValue("requests_per_s", out var rps) && result.Figures.TryGetValue("seconds", out var seconds))
        {
            var requests = rps * seconds;
            var window = (windowEnd - windowStart) / (double)Stopwatch.Frequency;
            var used = cpuEnd.Zip(cpuStart, (e, s) => e - s).ToArray();
            var server = used[..^1].Sum();
            result.Set("server_cpu_s", server).Set("server_cpu_cores", server / window).Set("cpu_us_per_request", server * 1e6 / requests)
                .Set("client_cpu_us_per_request", used[^1] * 1e6 / requests).Set("cpu_window_s", window);
            for (var i = 0; i < appCount; i++)
                result.Set($"app_{i + 1}_cpu_us_per_request", used[i] * 1e6 / requests);
            if (sharedCount > 0)
                result.Set("shared_server_cpu_us_per_request", used[appCount..^1].Sum() * 1e6 / requests);
        }
        return result;
    }
}
