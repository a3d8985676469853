using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;

namespace Multicast.Bench.Loss;

/// <summary>One tools/NetProbe process inside a network namespace, and the lines it prints.</summary>
internal sealed class ProbeNode : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _seen = [];
    private int _closedStreams;

    private ProbeNode(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    /// <summary>Starts NetProbe in <paramref name="ns"/> with the given arguments.</summary>
    public static ProbeNode Start(string name, string ns, string netProbe, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo("ip")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // "dotnet", not Environment.ProcessPath: under "dotnet run" that is the Bench apphost, not the muxer.
        foreach (var argument in new[] { "netns", "exec", ns, "dotnet", netProbe }.Concat(arguments))
            info.ArgumentList.Add(argument);
        var process = new Process { StartInfo = info };
        var node = new ProbeNode(process, name);
        process.OutputDataReceived += (_, e) => node.Collect(e.Data);
        process.ErrorDataReceived += (_, e) => node.Collect(e.Data is null ? null : "stderr: " + e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    /// <summary>The first line starting with <paramref name="prefix"/>; throws when the process ends or the time is up first.</summary>
    public async Task<string> WaitForLineAsync(string prefix, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            while (await _lines.Reader.WaitToReadAsync(limit.Token))
            {
                while (_lines.Reader.TryRead(out var line))
                {
                    _seen.Add(line);
                    if (line.StartsWith(prefix, StringComparison.Ordinal))
                        return line;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{Name} printed no '{prefix}' line within {timeout.TotalSeconds} s: {string.Join(" | ", _seen)}");
        }
        throw new InvalidOperationException($"{Name} exited before printing '{prefix}': {string.Join(" | ", _seen)}");
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
            // It exited; the next wait says so.
        }
    }

    /// <summary>The key=value pairs of a RESULT line, numbers only.</summary>
    public static Dictionary<string, double> Figures(string line)
    {
        var figures = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var part in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && double.TryParse(part[(equals + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                figures[part[..equals]] = value;
        }
        return figures;
    }

    /// <summary>Asks it to exit, waits 5 s, then kills it.</summary>
    public async ValueTask DisposeAsync()
    {
        WriteLine("EXIT");
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }

    private void Collect(string? line)
    {
        // Both stdout and stderr end with a null line; the process is done when both did.
        if (line is not null)
            _lines.Writer.TryWrite(line);
        else if (Interlocked.Increment(ref _closedStreams) == 2)
            _lines.Writer.TryComplete();
    }
}
