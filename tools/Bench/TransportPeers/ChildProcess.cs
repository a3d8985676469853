using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Multicast.Bench.TransportPeers;

/// <summary>
/// Runs one libzmq peer measurement in a child Bench process with a time limit: libzmq's NORM engine can abort
/// the process (an assertion) or hang in zmq_ctx_term, which must not take the whole run with it.
/// </summary>
internal static class ChildProcess
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    /// <summary>Merges the child's results and notes into <paramref name="report"/>; returns its throughput, or null.</summary>
    public static async Task<double?> MeasureAsync(BenchReport report, string peer, int size, TimeSpan duration, int zmqRate, string throughputName,
        CancellationToken cancellationToken)
    {
        var json = Path.Combine(Path.GetTempPath(), $"bench-{peer}-{Guid.NewGuid():N}.json");
        var start = Self();
        foreach (var argument in new[]
        {
            "transport-peers", "--in-process", "1", "--peers", peer, "--sizes", size.ToString(CultureInfo.InvariantCulture),
            "--seconds", duration.TotalSeconds.ToString(CultureInfo.InvariantCulture), "--zmq-rate", zmqRate.ToString(CultureInfo.InvariantCulture), "--json", json,
        })
        {
            start.ArgumentList.Add(argument);
        }
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start a child Bench");
        // OpenPGM warns twice per socket that lo is a loopback device; keep the rest (the sweep's progress).
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line && !line.StartsWith("Warn: Interface lo", StringComparison.Ordinal) && !line.StartsWith("transport-peers:", StringComparison.Ordinal))
                Console.Error.WriteLine(line);
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Limit);
        var killed = false;
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            killed = true;
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
        }

        double? throughput = null;
        if (!killed && process.ExitCode != 0)
            report.Notes.Add($"{peer} {size} B: the child process exited {process.ExitCode} (a libzmq assertion aborts it); its figures, if any, are what it wrote before.");
        if (killed)
            report.Notes.Add($"{peer} {size} B: the child process was killed after {Limit.TotalSeconds} s (hung); its figures, if any, are what it wrote before.");
        if (File.Exists(json))
        {
            using (var document = JsonDocument.Parse(await File.ReadAllBytesAsync(json, cancellationToken)))
            {
                foreach (var element in document.RootElement.GetProperty("results").EnumerateArray())
                {
                    var result = report.Add(element.GetProperty("name").GetString()!);
                    foreach (var figure in element.GetProperty("figures").EnumerateObject())
                        result.Set(figure.Name, figure.Value.ValueKind == JsonValueKind.Number ? figure.Value.GetDouble() : double.NaN);
                    if (result.Name == throughputName && result.Figures.TryGetValue("messages_per_s", out var value))
                        throughput = value;
                }
                foreach (var note in document.RootElement.GetProperty("notes").EnumerateArray().Select(n => n.GetString()!))
                {
                    if (!report.Notes.Contains(note))
                        report.Notes.Add(note);
                }
            }
            File.Delete(json);
        }
        else
        {
            report.Notes.Add($"{peer} {size} B: not measured: the child process {(killed ? "hung and was killed" : $"exited {process.ExitCode} (libzmq assertion?)")} before reporting anything (limit {Limit.TotalSeconds} s)");
        }
        return throughput;
    }

    private static ProcessStartInfo Self()
    {
        var host = Environment.ProcessPath ?? "dotnet";
        var dll = typeof(ChildProcess).Assembly.Location;
        var start = new ProcessStartInfo(host);
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
            start.ArgumentList.Add(dll);
        return start;
    }
}
