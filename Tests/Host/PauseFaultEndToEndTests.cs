using System.Globalization;
using System.Net;
using Multicast.Tests.TestSupport;

namespace Multicast.Tests.Host;

/// <summary>
/// The owner of live sessions frozen (SIGSTOP) for twice the suspect timeout under non-sticky load, then resumed
/// (SIGCONT): what a long GC pause, a VM steal or a swap storm does to a node. Issue 10: the ring wedged a session for
/// good, the replicated store answered 500.
/// </summary>
[Category("Integration")]
[NonParallelizable]
public sealed class PauseFaultEndToEndTests
{
    private static readonly TimeSpan Suspect = TimeSpan.FromSeconds(2);
    private const int Sessions = 6;

    /// <summary>How often a wait loop re-checks its condition (it gives up at its deadline).</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    [TestCase("Replicated")]
    [TestCase("Ring")]
    public async Task OwnerPausedTwiceTheSuspectTimeout_UnderLoad_NothingLostNo500AndEverySessionCommitsAgain(string store)
    {
        await using var sut = await TestCluster.StartAsync(3, 1, $"--Cluster:Store={store}",
            $"--Cluster:SuspectTimeout={Suspect:c}", "--Cluster:HeartbeatInterval=00:00:00.250");
        var owner = sut[1];
        var sessions = new List<string>();
        for (var i = 0; i < Sessions; i++)
            sessions.Add(await sut.CreateSessionAsync(owner)); // node1 owns them and arbitrates their locks
        var urls = sut.Nodes.Select(n => n.Url).ToArray();
        await using var load = new CounterLoad(sut.Http, sessions, () => urls, TimeSpan.FromSeconds(30));
        await Eventually.Until(() => load.Sessions.All(s => s.Acked >= 5), "every session under load", TimeSpan.FromSeconds(60));

        owner.Pause();
        var paused = load.Now;
        try
        {
            await Task.Delay(2 * Suspect); // the fault itself: the node stays frozen this long
        }
        finally
        {
            owner.Resume();
        }
        var resumed = load.Now;
        TestContext.Out.WriteLine($"node1 paused at {paused.TotalSeconds:0.000}s, resumed at {resumed.TotalSeconds:0.000}s");

        // Every session commits again after the resume; then a little more load, to see it keeps going.
        await Eventually.Until(() => load.Sessions.All(s => FirstCommitAfter(s, resumed) is not null), "every session committed after the resume", TimeSpan.FromSeconds(60));
        var acked = load.Sessions.Sum(s => s.Acked);
        await Eventually.Until(() => load.Sessions.Sum(s => s.Acked) >= acked + 20, "the load keeps going", TimeSpan.FromSeconds(60));
        await load.StopAsync();

        var (finals, disagreements) = await SettledFinalsAsync(sut, sessions);
        var violations = load.Check(finals);
        var failures = load.Answers.Where(a => a.Status >= 500 && a.Status != (int)HttpStatusCode.ServiceUnavailable).ToList();
        foreach (var s in load.Sessions)
            TestContext.Out.WriteLine($"{s.Id}: {s.Acked} acknowledged, {s.Unknown} unknown, {s.Refused} refused, first commit {(FirstCommitAfter(s, resumed)!.Ended - resumed).TotalSeconds:0.000}s after the resume");
        Assert.Multiple(() =>
        {
            Assert.That(disagreements, Is.Empty, "after the load every node answers the same count");
            Assert.That(violations, Is.Empty, "no lost and no phantom update");
            Assert.That(failures, Is.Empty, "no 500 (or other 5xx than 503)");
        });
    }

    private static CounterLoad.Answer? FirstCommitAfter(CounterLoad.SessionLoad session, TimeSpan resumed) =>
        session.Answers.Where(a => a.Status == (int)HttpStatusCode.OK && a.Ended >= resumed).MinBy(a => a.Ended);

    /// <summary>
    /// Each session's counter once every node answers the same value (reads settle after the load stops); where they
    /// still disagree after 30 s, the highest value, with the disagreement reported.
    /// </summary>
    internal static async Task<(Dictionary<string, long> Finals, List<string> Disagreements)> SettledFinalsAsync(TestCluster cluster, IEnumerable<string> sessions)
    {
        var finals = new Dictionary<string, long>(StringComparer.Ordinal);
        var disagreements = new List<string>();
        foreach (var session in sessions)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (true)
            {
                var values = await Task.WhenAll(cluster.Nodes.Select(async n =>
                {
                    var (status, body, _) = await cluster.SendAsync(n, HttpMethod.Get, "/counter", session);
                    return status == HttpStatusCode.OK ? long.Parse(body, CultureInfo.InvariantCulture) : (long?)null;
                }));
                var agreed = values.All(v => v is not null) && values.Distinct().Count() == 1;
                if (agreed || DateTime.UtcNow > deadline)
                {
                    finals[session] = values.Max() ?? 0;
                    if (!agreed)
                        disagreements.Add($"{session}: " + string.Join(", ", values.Select((v, i) => $"{cluster.Nodes[i].NodeId}={v?.ToString(CultureInfo.InvariantCulture) ?? "no answer"}")));
                    break;
                }
                await Task.Delay(PollInterval);
            }
        }
        return (finals, disagreements);
    }
}
