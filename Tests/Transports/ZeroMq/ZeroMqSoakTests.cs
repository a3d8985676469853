using System.Diagnostics;
using System.Text.Json;
using Multicast.Tests.Host;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>
/// Reconnect churn (NetMQ has had reports of pipes leaking when peers come and go): the benchmark's
/// <c>zeromq-soak</c> scenario, in a process of its own, restarts a peer 200 times against a running node. Its
/// figures are reported here; the bounds asserted are loose (a leak of a socket, thread or buffer per restart would
/// pass them many times over), since the machine is shared.
/// </summary>
[Category("Integration")]
public sealed class ZeroMqSoakTests
{
    private const int Restarts = 200;

    [Test]
    public async Task PeerRestarted200Times_HeapThreadsAndFileDescriptorsStayFlatAndCleanupReturns()
    {
        var json = Path.Combine(Path.GetTempPath(), $"zeromq-soak-{Guid.NewGuid():N}.json");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { BenchDll, "zeromq-soak", "--restarts", $"{Restarts}", "--idle-seconds", "3", "--json", json })
            info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(8));
        }
        finally
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
        var output = await stdout + await stderr;
        TestContext.Out.WriteLine(output);
        Assert.That(process.ExitCode, Is.EqualTo(0), output);

        using var document = JsonDocument.Parse(await File.ReadAllBytesAsync(json));
        File.Delete(json);
        double Figure(string result, string figure) => document.RootElement.GetProperty("results").EnumerateArray()
            .Single(r => r.GetProperty("name").GetString() == result).GetProperty("figures").GetProperty(figure).GetDouble();

        Assert.That(Figure("zeromq_soak", "restarts_completed"), Is.EqualTo(Restarts));
        Assert.That(Figure("zeromq_soak", "threads_growth"), Is.LessThanOrEqualTo(8), "threads");
        Assert.That(Figure("zeromq_soak", "fds_growth"), Is.LessThanOrEqualTo(64), "open file descriptors");
        Assert.That(Figure("zeromq_soak", "heap_growth_mb"), Is.LessThanOrEqualTo(16), "managed heap, MB");
        Assert.That(Figure("zeromq_cleanup", "completed"), Is.EqualTo(1), "NetMQConfig.Cleanup(block: true) returned");
        Assert.That(Figure("zeromq_cleanup", "failed_start_threw"), Is.EqualTo(1), "a start on an endpoint in use failed before the cleanup");
    }

    /// <summary>The benchmark's build output next to this test build (same configuration).</summary>
    private static string BenchDll
    {
        get
        {
            var host = NodeProcess.HostDll; // .../Host/bin/<Configuration>/net10.0/Multicast.Host.dll
            var dll = Path.Combine(Path.GetDirectoryName(host)!.Replace(Path.Combine("Host", "bin"), Path.Combine("tools", "Bench", "bin"), StringComparison.Ordinal), "Bench.dll");
            if (!File.Exists(dll))
                Assert.Fail($"The benchmark is not built at {dll}; build the solution (the test project references tools/Bench).");
            return dll;
        }
    }
}
