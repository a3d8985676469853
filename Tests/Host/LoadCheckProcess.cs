using System.Diagnostics;

namespace Multicast.Tests.Host;

/// <summary>tools/LoadCheck run as its own process (the test project references it, so it is built with the tests).</summary>
internal sealed class LoadCheckProcess : IDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stdout;
    private readonly Task<string> _stderr;
    private int _disposed;

    private LoadCheckProcess(Process process)
    {
        _process = process;
        _stdout = process.StandardOutput.ReadToEndAsync();
        _stderr = process.StandardError.ReadToEndAsync();
    }

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public static LoadCheckProcess Start(params string[] args)
    {
        var dll = Path.Combine(Path.GetDirectoryName(NodeProcess.HostDll)!.Replace(Path.Combine("Host", "bin"), Path.Combine("tools", "LoadCheck", "bin"), StringComparison.Ordinal), "LoadCheck.dll");
        if (!File.Exists(dll))
            Assert.Fail($"LoadCheck is not built at {dll}; build the solution (the test project references tools/LoadCheck).");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (var a in args)
            info.ArgumentList.Add(a);
        return new LoadCheckProcess(Process.Start(info) ?? throw new InvalidOperationException("could not start LoadCheck"));
    }

    /// <summary>SIGINT: LoadCheck ends its load now and runs its final check.</summary>
    public void Interrupt()
    {
        if (!_process.HasExited)
            NodeProcess.Signal(_process.Id, 2);
    }

    /// <summary>Waits for LoadCheck to finish; returns its output (stdout, then stderr).</summary>
    public async Task<string> WaitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
            Assert.Fail($"LoadCheck did not finish within {timeout.TotalMinutes} min");
        }
        return await _stdout + await _stderr;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
