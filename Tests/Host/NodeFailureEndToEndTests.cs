using System.Globalization;
using System.Net;

namespace Multicast.Tests.Host;

/// <summary>Nodes that die or leave while clients keep writing.</summary>
[Category("Integration")]
[NonParallelizable]
public sealed class NodeFailureEndToEndTests
{
    [Test]
    public async Task OwnerKilledMidLoad_NoAcknowledgedIncrementLost_SurvivorsServeAndRestartedNodeCatchesUp([Values("Replicated", "Ring")] string store)
    {
        await using var sut = await TestCluster.StartAsync(3, 1, $"--Cluster:Store={store}");
        var session = await sut.CreateSessionAsync(sut[1]); // node1 owns it and arbitrates its lock
        var acked = 1L;
        var unknown = 0L;
        var lastAnswer = 1L;
        var violations = new List<string>();
        var gate = new Lock();
        using var stop = new CancellationTokenSource();

        async Task Load(NodeProcess node)
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var (status, body, _) = await sut.SendAsync(node, HttpMethod.Post, "/counter", session);
                    lock (gate)
                    {
                        if (status == HttpStatusCode.OK)
                        {
                            acked++;
                            lastAnswer = Math.Max(lastAnswer, long.Parse(body, CultureInfo.InvariantCulture));
                        }
                        else if (!(status == HttpStatusCode.ServiceUnavailable && !body.Contains("could not be stored", StringComparison.Ordinal)))
                        {
                            unknown++; // a failed commit: it may or may not have been applied
                        }
                        if (status == HttpStatusCode.OK && body.Length == 0)
                            violations.Add("empty answer");
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    lock (gate)
                        unknown++;
                }
            }
        }

        var loaders = new[] { Load(sut[2]), Load(sut[3]), Load(sut[2]), Load(sut[3]) };
        await Eventually(() => Interlocked.Read(ref acked) >= 30, TimeSpan.FromSeconds(30), "the load did not get going");
        sut[1].Kill();
        var ackedAtKill = Interlocked.Read(ref acked);
        await Eventually(() => Interlocked.Read(ref acked) >= ackedAtKill + 30, TimeSpan.FromSeconds(30), "requests did not succeed on the survivors again");
        await stop.CancelAsync();
        await Task.WhenAll(loaders);

        int on2, on3;
        var settle = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        do
        {
            on2 = await sut.ReadAsync(sut[2], session);
            on3 = await sut.ReadAsync(sut[3], session);
        }
        while (on2 != on3 && DateTime.UtcNow < settle);
        Assert.That(violations, Is.Empty);
        Assert.That(on3, Is.EqualTo(on2), "the survivors agree");
        Assert.That(on2, Is.GreaterThanOrEqualTo(acked), $"no acknowledged increment lost ({acked} acknowledged, {unknown} unknown)");
        Assert.That(on2, Is.GreaterThanOrEqualTo(lastAnswer));
        Assert.That(on2, Is.LessThanOrEqualTo(acked + unknown), "nothing applied that was not sent");

        sut[1].Restart();
        await sut[1].WaitHealthyAsync(sut.Http, TimeSpan.FromSeconds(60));
        await sut.WaitForMembersAsync(3, TimeSpan.FromSeconds(30));
        Assert.That(await sut.ReadEventuallyAsync(sut[1], session, on2), Is.EqualTo(on2), "the restarted node caught up");
        Assert.That(await sut.IncrementAsync(sut[1], session), Is.EqualTo(on2 + 1));
    }

    [Test]
    public async Task SigTerm_NodeLeavesGracefully_ExitsZeroAndSessionsStay()
    {
        await using var sut = await TestCluster.StartAsync(3);
        var session = await sut.CreateSessionAsync(sut[3]);
        await sut.IncrementAsync(sut[3], session);

        var exitCode = await sut[3].TerminateAsync(TimeSpan.FromSeconds(30));

        Assert.That(exitCode, Is.Zero, sut[3].Output);
        await sut.WaitForMembersAsync(2, TimeSpan.FromSeconds(10));
        Assert.That(await sut.ReadEventuallyAsync(sut[1], session, 2), Is.EqualTo(2));
        Assert.That(await sut.IncrementAsync(sut[2], session), Is.EqualTo(3));
    }

    private static async Task Eventually(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"Timed out after {timeout.TotalSeconds} s: {what}");
            await Task.Delay(50);
        }
    }
}
