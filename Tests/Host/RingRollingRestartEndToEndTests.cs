using System.Globalization;
using System.Text.RegularExpressions;

namespace Multicast.Tests.Host;

/// <summary>The ring store under load while every node is restarted, one at a time, driven by tools/LoadCheck.</summary>
[Category("Integration")]
[NonParallelizable]
public sealed partial class RingRollingRestartEndToEndTests
{
    [Test]
    public async Task RollingRestart_UnderLoad_LosesNoAcknowledgedUpdate([Values(true, false)] bool graceful)
    {
        await using var sut = await TestCluster.StartAsync(3, replicationAcks: 1, "--Cluster:Store=Ring", "--Cluster:Backups=1");
        var urls = string.Join(',', sut.Nodes.Select(n => n.Url.ToString()));
        // The load runs until the restarts are done (SIGINT), however long a loaded machine takes for them: a fixed
        // 30 s load ended before the third restart under a full suite's load.
        using var load = LoadCheckProcess.Start("--urls", urls, "--clients", "6", "--duration", "600", "--progress", "5");
        try
        {
            foreach (var node in sut.Nodes)
            {
                if (graceful)
                    Assert.That(await node.TerminateAsync(TimeSpan.FromSeconds(30)), Is.Zero, $"{node.NodeId} exit code");
                else
                    node.Kill();
                await sut.WaitForMembersAsync(2, TimeSpan.FromSeconds(30));
                node.Restart();
                await node.WaitHealthyAsync(sut.Http, TimeSpan.FromSeconds(60));
                await sut.WaitForMembersAsync(3, TimeSpan.FromSeconds(30));
            }
        }
        catch
        {
            load.Dispose();
            throw;
        }
        var underLoad = !load.HasExited;
        load.Interrupt();
        var output = await load.WaitAsync(TimeSpan.FromMinutes(3));
        Assert.That(underLoad, Is.True, "every restart happened while the load ran\n" + output);

        Assert.That(load.ExitCode, Is.Zero, output);
        var summary = PassLine().Match(output);
        Assert.That(summary.Success, Is.True, output);
        var acknowledged = long.Parse(summary.Groups["acked"].Value, CultureInfo.InvariantCulture);
        var unknown = long.Parse(summary.Groups["unknown"].Value, CultureInfo.InvariantCulture);
        TestContext.Out.WriteLine(output);
        // The load kept flowing through every restart: requests whose outcome is unknown are the few in flight
        // on a node as it went down, not a window of failures.
        Assert.That(acknowledged, Is.GreaterThan(100), output);
        Assert.That(unknown, Is.LessThan(acknowledged / 10), output);
    }

    [GeneratedRegex(@"PASS: no lost update: \d+ sessions, (?<acked>\d+) acknowledged increments, (?<unknown>\d+) unknown-outcome requests")]
    private static partial Regex PassLine();
}
