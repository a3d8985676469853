using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

namespace Multicast.Soak;

/// <summary>One node host process, run inside its network namespace (<c>ip netns exec</c> execs dotnet, so the
/// process id is the node's), restartable with the same arguments.</summary>
internal sealed class SoakNode(int index, string ip, string ns, string address, string hostDll, IReadOnlyList<string> args) : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);
    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    public int Index { get; } = index;

    public string NodeId => $"node{Index + 1}";

    public string Namespace { get; } = ns;

    public Uri Url { get; } = new($"http://{address}:5080/");

    public int Pid => _process?.Id ?? 0;

    public bool HasExited => _process?.HasExited ?? true;

    /// <summary>How many times the node was started.</summary>
    public int Incarnation { get; private set; }

    public string Tail => string.Join('\n', _output.TakeLast(30));

    public void Start()
    {
        var info = new ProcessStartInfo(ip) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", Namespace, "dotnet", hostDll, $"--Urls=http://{Url.Authority}", $"--Cluster:NodeId={NodeId}", .. args])
            info.ArgumentList.Add(a);
        info.Environment["DOTNET_gcServer"] = "0"; // three nodes share the machine
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process?.Dispose();
        _process = process;
        Incarnation++;
    }

    /// <summary>SIGKILL: no leave, no flush.</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
        }
    }

    /// <summary>SIGTERM and wait for the exit; SIGKILL after <paramref name="timeout"/>. Returns whether it stopped by itself.</summary>
    public async Task<bool> TerminateAsync(TimeSpan timeout)
    {
        if (_process is not { HasExited: false } p)
            return true;
        Interop.Kill(p.Id, Interop.SigTerm);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            Kill();
            return false;
        }
    }

    public void Pause() => Signal(Interop.SigStop);

    public void Resume() => Signal(Interop.SigCont);

    /// <summary>Waits until GET /health answers 200; false at the deadline or when the process exits.</summary>
    public async Task<bool> WaitHealthyAsync(HttpClient http, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout && !HasExited)
        {
            try
            {
                using var response = await http.GetAsync(new Uri(Url, "health"));
                if (response.StatusCode == HttpStatusCode.OK)
                    return true;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // not listening yet
            }
            await Task.Delay(PollInterval);
        }
        return false;
    }

    public void Dispose()
    {
        try
        {
            Resume();
            Kill();
        }
        catch (InvalidOperationException)
        {
            // never started
        }
        _process?.Dispose();
    }

    private void Signal(int signal)
    {
        if (_process is { HasExited: false } p && Interop.Kill(p.Id, signal) != 0)
            throw new InvalidOperationException($"kill({signal}) of {NodeId} (pid {p.Id}) failed: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
    }

    private void Keep(string? line)
    {
        if (line is null)
            return;
        _output.Enqueue(line);
        while (_output.Count > 200)
            _output.TryDequeue(out _);
    }
}
