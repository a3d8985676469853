using System.Text.Json;

namespace Multicast.Tests.Host;

/// <summary>
/// Every node restarted gracefully (SIGTERM, start again, next node) under non-sticky load, for both stores, checked by
/// tools/LoadCheck in strict mode: a 503 counts as "not applied", so a refused request that was applied shows as a
/// phantom update; any 5xx answer and any request slower than 2 s is a violation. The one 5xx allowed is the 503 "This
/// node is not ready" of the node being restarted, while it leaves or joins (a balancer's health check drains it; the
/// endpoint did not run, and --strict counts it as not applied): the "no 5xx" is about the nodes that stay. Issue 10: commits stalled 5 s and
/// answered 503 "applied but was not confirmed", and the final counter was one above the acknowledged increments.
/// </summary>
[Category("Integration")]
[NonParallelizable]
public sealed class GracefulRollingRestartFaultTests
{
    [TestCase("Replicated")]
    [TestCase("Ring")]
    public async Task GracefulRollingRestart_UnderLoad_No5xxNoSlowRequestNoLostOrPhantomUpdate(string store)
    {
        await using var sut = await TestCluster.StartAsync(3, 1, $"--Cluster:Store={store}");
        var urls = string.Join(',', sut.Nodes.Select(n => n.Url.ToString()));
        var json = Path.Combine(Path.GetTempPath(), $"rolling-{Guid.NewGuid():N}.json");
        using var load = LoadCheckProcess.Start("--urls", urls, "--clients", "6", "--duration", "40", "--progress", "5",
            "--strict", "--fail-on-5xx", "--allow-not-ready", "--max-latency", "2", "--json", json);
        try
        {
            foreach (var node in sut.Nodes)
            {
                Assert.That(await node.TerminateAsync(TimeSpan.FromSeconds(30)), Is.Zero, $"{node.NodeId} exit code");
                await sut.WaitForMembersAsync(2, TimeSpan.FromSeconds(30));
                node.Restart();
                await node.WaitHealthyAsync(sut.Http, TimeSpan.FromSeconds(60));
                await sut.WaitForMembersAsync(3, TimeSpan.FromSeconds(30));
            }
            var underLoad = !load.HasExited;
            var output = await load.WaitAsync(TimeSpan.FromMinutes(3));
            TestContext.Out.WriteLine(output);
            Assert.That(underLoad, Is.True, "every restart happened while the load ran\n" + output);
            var figures = JsonSerializer.Deserialize<Dictionary<string, double>>(await File.ReadAllTextAsync(json))!;

            Assert.Multiple(() =>
            {
                Assert.That(load.ExitCode, Is.Zero, "no lost or phantom update, no 5xx, no request slower than 2 s:\n" + output);
                Assert.That(figures["answers_5xx"] - figures["answers_503"], Is.Zero, "5xx answers other than 503");
                Assert.That(figures["slowest_ms"], Is.LessThanOrEqualTo(2000), "slowest request (ms)");
                Assert.That(figures["writes_acked"], Is.GreaterThan(100), "the load kept flowing");
            });
        }
        finally
        {
            File.Delete(json);
        }
    }
}
