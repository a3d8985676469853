using System.Diagnostics;

namespace Multicast.Bench.Http;

/// <summary>A web app in its own process (a cluster node or a baseline app), its output to a log file; stopped with SIGTERM, killed if it lingers.</summary>
internal sealed class AppProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private AppProcess(Process process, StreamWriter log, Uri url)
    {
        _process = process;
        _log = log;
        Url = url;
    }

    public Uri Url { get; }

    /// <summary>The process id (for its CPU time in /proc/&lt;pid&gt;/stat).</summary>
    public int Id => _process.Id;

    public string LogPath { get; private init; } = "";

    /// <summary>Starts <c>dotnet <paramref name="dll"/> <paramref name="arguments"/></c>, with <paramref name="environment"/> added to its environment.</summary>
    public static AppProcess Start(string dll, IEnumerable<string> arguments, Uri url, string logPath, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetDirectoryName(dll)! };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        var log = new StreamWriter(logPath) { AutoFlush = true };
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {dll}");
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new AppProcess(process, log, url) { LogPath = logPath };
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
            return;
        lock (log)
            log.WriteLine(line);
    }

    /// <summary>Waits until GET /health answers 200; fails with the log's tail when the process exits or the time is up.</summary>
    public async Task WaitHealthyAsync(HttpClient http, TimeSpan limit, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"{Url} exited {_process.ExitCode}; see {LogPath}");
            if (clock.Elapsed > limit)
                throw new TimeoutException($"{Url} not healthy within {limit.TotalSeconds} s; see {LogPath}");
            try
            {
                using var response = await http.GetAsync(new Uri(Url, "health"), cancellationToken);
                if (response.IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // listening but slow to answer (a loaded machine): ask again
            }
            await Task.Delay(100, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM: a graceful stop (a node leaves the view).
            _ = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None);
            }
        }
        _process.Dispose();
        lock (_log)
            _log.Dispose();
    }
}
