using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Multicast.Tests.Host;

/// <summary>A node host running as its own process (<c>dotnet Multicast.Host.dll</c> from the Host project's build output).</summary>
internal sealed partial class NodeProcess : IAsyncDisposable
{
    /// <summary>How often a wait loop re-checks its condition (it gives up at its deadline).</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>How many other ports a node tries when the one picked for it was taken before it could bind it.</summary>
    private const int MaxPortRetries = 5;

    /// <summary>How long one GET /health may take while waiting for a node to be healthy.</summary>
    private static readonly TimeSpan HealthProbeTimeout = TimeSpan.FromSeconds(5);

    // Ports FreeTcpPort handed out in this process: never twice, so two fixtures starting nodes at once cannot pick the same.
    private static readonly HashSet<int> HandedOut = [];

    private readonly ConcurrentQueue<string> _output = new();
    private string[] _args;
    private readonly string[] _wrapper = [];
    private Process _process;
    private int _portRetries = -1; // -1: the port is fixed (given by the caller, or the node was healthy on it)

    private NodeProcess(string nodeId, Uri url, string[] args)
    {
        NodeId = nodeId;
        Url = url;
        _args = args;
        _process = Launch();
    }

    public string NodeId { get; }

    /// <summary>Where the node serves HTTP. Known for good once <see cref="WaitHealthyAsync"/> returned: until then a
    /// node started on a picked port moves to another one if something else bound the picked one first.</summary>
    public Uri Url { get; private set; }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>The process's console output so far (for failure messages), without the health probes' lines (see
    /// <see cref="IsHealthCheckLine"/>).</summary>
    public string Output => string.Join('\n', _output.TakeLast(80));

    /// <summary>A health probe's line: a node that is not ready answers every probe (ten a second) with an error line,
    /// which would push out the lines that say why; they are not kept.</summary>
    private static bool IsHealthCheckLine(string line) =>
        line.Contains("/health", StringComparison.Ordinal) || line.Contains("Health check", StringComparison.Ordinal);

    /// <summary>The Host's build output next to this test build (same configuration).</summary>
    public static string HostDll
    {
        get
        {
            var testDir = AppContext.BaseDirectory; // .../Tests/bin/<Configuration>/net10.0/
            var framework = new DirectoryInfo(testDir.TrimEnd(Path.DirectorySeparatorChar));
            var configuration = framework.Parent!.Name;
            var root = framework.Parent!.Parent!.Parent!.Parent!.FullName;
            var dll = Path.Combine(root, "Host", "bin", configuration, framework.Name, "Multicast.Host.dll");
            if (!File.Exists(dll))
                Assert.Fail($"The node host is not built at {dll}; build the solution (the test project references Host).");
            return dll;
        }
    }

    /// <summary>Starts a node on a free loopback port (<paramref name="port"/>, if given: a test of the move to another).</summary>
    public static NodeProcess Start(string nodeId, IEnumerable<string> args, int? port = null)
    {
        var url = new Uri($"http://127.0.0.1:{port ?? FreeTcpPort()}");
        return new NodeProcess(nodeId, url, [$"--Urls={url.GetLeftPart(UriPartial.Authority)}", $"--Cluster:NodeId={nodeId}", .. args]) { _portRetries = 0 };
    }

    /// <summary>Runs the host with <paramref name="args"/> until it exits by itself; returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(TimeSpan timeout, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(HostDll);
        foreach (var a in args)
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"The host did not exit within {timeout.TotalSeconds} s:\n{await stdout}\n{await stderr}");
        }
        return (process.ExitCode, await stdout + await stderr);
    }

    public async Task WaitHealthyAsync(HttpClient http, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                _process.WaitForExit(); // its last lines read
                if (PortTaken())
                {
                    MoveToAnotherPort();
                    continue;
                }
                Assert.Fail($"{NodeId} exited with code {_process.ExitCode} before it was healthy:\n{Output}");
            }
            // Bounded: until the node exits, its port may be another socket's that never answers.
            using var probe = new CancellationTokenSource(HealthProbeTimeout);
            try
            {
                using var response = await http.GetAsync(new Uri(Url, "/health"), probe.Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    _portRetries = -1; // restarts keep this port: the cluster knows the node by it
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (OperationCanceledException) when (probe.IsCancellationRequested)
            {
                // no answer yet
            }
            if (clock.Elapsed > timeout)
                Assert.Fail($"{NodeId} was not healthy within {timeout.TotalSeconds} s; its /cluster: {await TryGetAsync(http, "/cluster")}\n{Output}");
            await Task.Delay(PollInterval);
        }
    }

    /// <summary>Whether the node exited because another socket bound its picked port between the pick and its own bind
    /// (Kestrel: "Failed to bind to address http://127.0.0.1:P: address already in use"), and may try another.</summary>
    private bool PortTaken() =>
        _portRetries is >= 0 and < MaxPortRetries
        && _output.Any(l => l.Contains("address already in use", StringComparison.OrdinalIgnoreCase) && l.Contains(Url.Authority, StringComparison.Ordinal));

    private void MoveToAnotherPort()
    {
        _portRetries++;
        var old = Url;
        Url = new Uri($"http://127.0.0.1:{FreeTcpPort()}");
        _args = [.. _args.Select(a => a.StartsWith("--Urls=", StringComparison.Ordinal) ? $"--Urls={Url.GetLeftPart(UriPartial.Authority)}" : a)];
        _output.Enqueue($"---- {old.Authority} was taken: starting again on {Url.Authority} ----");
        _process.Dispose();
        _process = Launch();
    }

    private async Task<string> TryGetAsync(HttpClient http, string path)
    {
        using var probe = new CancellationTokenSource(HealthProbeTimeout);
        try
        {
            return await http.GetStringAsync(new Uri(Url, path), probe.Token);
        }
        catch (HttpRequestException ex)
        {
            return ex.Message;
        }
        catch (OperationCanceledException) when (probe.IsCancellationRequested)
        {
            return $"no answer within {HealthProbeTimeout.TotalSeconds} s";
        }
    }

    /// <summary>SIGKILL: no leave, no flush.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM (what Ctrl+C or a service manager sends): the node leaves gracefully. Returns the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        if (!_process.HasExited && SysKill(_process.Id, 15) != 0)
            Assert.Fail($"kill(SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
            Assert.Fail($"{NodeId} did not stop within {timeout.TotalSeconds} s of SIGTERM:\n{Output}");
        }
        return _process.ExitCode;
    }

    /// <summary>Starts the node again with the same arguments (same id, same port): a new incarnation.</summary>
    public void Restart()
    {
        if (!_process.HasExited)
            throw new InvalidOperationException($"{NodeId} is still running");
        _process.Dispose();
        _output.Enqueue("---- restarted ----");
        _process = Launch();
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            Kill();
        }
        catch (InvalidOperationException)
        {
            // never started
        }
        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    private Process Launch()
    {
        // The wrapper (NodeProcess.Netns.cs) runs dotnet through another command, such as ip netns exec.
        var info = new ProcessStartInfo(_wrapper.Length > 0 ? _wrapper[0] : "dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (_wrapper.Length > 0)
        {
            foreach (var w in _wrapper.Skip(1))
                info.ArgumentList.Add(w);
            info.ArgumentList.Add("dotnet");
        }
        info.ArgumentList.Add(HostDll);
        foreach (var a in _args)
            info.ArgumentList.Add(a);
        info.Environment["DOTNET_gcServer"] = "0"; // several nodes share two cores
        if (LogDirectory is not null)
            info.Environment["Serilog__MinimumLevel__Override__Multicast"] = "Debug"; // kept logs say what the store did
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>MULTICAST_TEST_NODE_LOGS names a directory: every line of every node's output is kept there too, one
    /// file per node (<c>{NodeId}.log</c>), for diagnosing a fault test after it ran.</summary>
    private static readonly string? LogDirectory = Environment.GetEnvironmentVariable("MULTICAST_TEST_NODE_LOGS") is { Length: > 0 } d ? d : null;

    private readonly Lock _logLock = new();

    private void Keep(string? line)
    {
        if (line is null)
            return;
        if (LogDirectory is not null)
        {
            lock (_logLock)
            {
                Directory.CreateDirectory(LogDirectory);
                File.AppendAllText(Path.Combine(LogDirectory, NodeId + ".log"), line + "\n");
            }
        }
        if (IsHealthCheckLine(line))
            return;
        _output.Enqueue(line);
        while (_output.Count > 500)
            _output.TryDequeue(out _);
    }

    /// <summary>A loopback TCP port nothing listened on a moment ago, and that this process never handed out before (the
    /// kernel may give a released port again at once). Another process can still bind it first: callers that start a node on
    /// it let <see cref="WaitHealthyAsync"/> move the node to another port then.</summary>
    public static int FreeTcpPort()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            lock (HandedOut)
            {
                if (HandedOut.Add(port))
                    return port;
            }
        }
    }

    /// <summary>kill(2): sends <paramref name="signal"/> to process <paramref name="pid"/>.</summary>
    internal static int Signal(int pid, int signal) => SysKill(pid, signal);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SysKill(int pid, int signal);
}
