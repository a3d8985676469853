using System.Collections.Concurrent;
using System.Diagnostics;

namespace Multicast.Tests.Transports.Udp;

/// <summary>One tools/NetProbe process (inside a network namespace) and the lines it prints.</summary>
internal sealed class ProbeProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();
    private readonly SemaphoreSlim _lineArrived = new(0);

    private ProbeProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    public IEnumerable<string> Lines => _lines;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts <paramref name="fileName"/> with <paramref name="arguments"/>, collecting stdout and stderr.</summary>
    public static ProbeProcess Start(string name, string fileName, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        var process = new Process { StartInfo = info };
        var probe = new ProbeProcess(process, name);
        process.OutputDataReceived += (_, e) => probe.Collect(e.Data, "");
        process.ErrorDataReceived += (_, e) => probe.Collect(e.Data, "stderr: ");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return probe;
    }

    /// <summary>Waits for a line starting with <paramref name="prefix"/>; fails the test (with everything the process
    /// printed) when the process exits first or the deadline passes.</summary>
    public async Task<string> WaitForLineAsync(string prefix, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var exited = _process.HasExited;
            if (exited)
                _process.WaitForExit(); // drains the redirected output
            var line = _lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
            if (line is not null)
                return line;
            if (exited)
                Assert.Fail($"{Name} exited (code {_process.ExitCode}) before printing '{prefix}'. Output:\n{Output()}");
            var left = timeout - clock.Elapsed;
            if (left <= TimeSpan.Zero)
                Assert.Fail($"{Name} printed no '{prefix}' line within {timeout.TotalSeconds} s. Output:\n{Output()}");
            // Woken by the next line; the bounded wait notices an exit that prints nothing more.
            await _lineArrived.WaitAsync(left < TimeSpan.FromMilliseconds(250) ? left : TimeSpan.FromMilliseconds(250));
        }
    }

    public void WriteLine(string line)
    {
        try
        {
            _process.StandardInput.WriteLine(line);
            _process.StandardInput.Flush();
        }
        catch (IOException)
        {
            // It already exited; the caller's next wait reports that.
        }
    }

    public string Output() => string.Join('\n', _lines.Select(l => $"  [{Name}] {l}"));

    /// <summary>Waits up to <paramref name="timeout"/> for a clean exit, then kills the process.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        WriteLine("EXIT");
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
        }
    }

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Not started or already gone.
        }
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
        _lineArrived.Dispose();
    }

    private void Collect(string? line, string prefix)
    {
        if (line is null)
            return;
        _lines.Enqueue(prefix + line);
        _lineArrived.Release();
    }
}
