using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Multicast.Tests.TestSupport;
using Multicast.Tests.Transports.Udp;

namespace Multicast.Tests.Host;

/// <summary>
/// A real partition between node processes: three hosts in network namespaces on one bridge (tools/netns/up.sh), HTTP
/// from the root namespace over an uplink (as a load balancer would still reach every node), and one node's UDP cut both
/// ways with iptables. The minority must refuse exclusive requests (503), the majority must keep serving every session,
/// and after healing every node must agree, with nothing acknowledged lost. Issue 10: the replicated store lost
/// acknowledged updates and answered 5xx in this setup.
/// </summary>
[Category("Integration")]
[NonParallelizable]
public sealed class NetnsPartitionFaultTests
{
    private static readonly TimeSpan Suspect = TimeSpan.FromSeconds(2);
    private const int SessionsPerNode = 2;

    /// <summary>How long the node's UDP stays cut: shorter than the holder's commit deadline (2 x CommitTimeout +
    /// LockWaitTimeout, 20 s), so a commit the minority had in flight must learn its outcome after the heal.</summary>
    private static readonly TimeSpan PartitionLength = TimeSpan.FromSeconds(8);

    /// <summary>How often a wait loop re-checks its condition (it gives up at its deadline).</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    [TestCase("Replicated")]
    [TestCase("Ring")]
    public async Task MinorityCutOff_MinorityRefusesMajorityServes_EverythingConvergesAfterHealing(string store)
    {
        var netns = NetnsTools.RequireOrIgnore();
        var prefix = "mcp" + Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()))[..6];
        try
        {
            var addresses = netns.Up(prefix, nodes: 3, loss: 0);
            Run("bash", Path.Combine(NetnsTools.RepositoryRoot(), "tools", "netns", "uplink.sh"), prefix);
            await using var sut = await TestCluster.StartInNamespacesAsync(netns, addresses, $"--Cluster:Store={store}",
                $"--Cluster:SuspectTimeout={Suspect:c}", "--Cluster:HeartbeatInterval=00:00:00.250");
            var sessions = new List<string>();
            foreach (var node in sut.Nodes)
            {
                for (var i = 0; i < SessionsPerNode; i++)
                    sessions.Add(await sut.CreateSessionAsync(node)); // every node owns some, the minority too
            }
            var urls = sut.Nodes.Select(n => n.Url).ToArray();
            await using var load = new CounterLoad(sut.Http, sessions, () => urls, TimeSpan.FromSeconds(30));
            await Eventually.Until(() => load.Sessions.All(s => s.Acked >= 5), "every session under load", TimeSpan.FromSeconds(60));

            var minority = sut[3];
            var cutAt = load.Now;
            CutUdp(netns, addresses[2].Namespace, cut: true);
            TimeSpan cutOff, healing, healed;
            var ackedInPartition = new Dictionary<string, long>(StringComparer.Ordinal);
            try
            {
                // The majority's view drops the minority; what the minority's own view says is up to the store (it
                // must refuse either way: a cut-off member that keeps its old view is exactly the dangerous case).
                await ViewsAsync(sut, [2, 2, null], "the majority sees the partition");
                cutOff = load.Now;
                foreach (var s in load.Sessions)
                    ackedInPartition[s.Id] = s.Acked;
                // The majority keeps serving every session, the ones the minority owned included; a client still
                // waiting for a commit the minority had in flight when it was cut off cannot move on until that
                // answer comes (it cannot come before the heal: only the majority knows whether the change is held).
                bool Waits(CounterLoad.SessionLoad s) => s.Pending is { } p && p.Node == minority.Url && p.Started <= cutOff;
                // And the minority has refused some requests itself, so the partition lasts until both sides acted on it.
                int Refusals() => load.Answers.Count(a => a.Node == minority.Url && a.Started >= cutOff && a.Status == (int)HttpStatusCode.ServiceUnavailable);
                await UntilAsync(() => load.Sessions.All(s => s.Acked >= ackedInPartition[s.Id] + 3 || Waits(s)) && Refusals() >= 3,
                    () => $"the minority refuses ({Refusals()} so far) and the majority serves every session: acknowledged during the partition "
                        + string.Join(", ", load.Sessions.Select(s => $"{s.Id[..8]}… {s.Acked - ackedInPartition[s.Id]}"))
                        + "\nlast answers of the sessions behind:\n" + string.Join("\n", load.Sessions.Where(s => s.Acked < ackedInPartition[s.Id] + 3)
                            .SelectMany(s => s.Answers.TakeLast(6).Select(a => $"  {s.Id[..8]}… {a}"))));
                // The fault itself lasts this long (as the issue's 8 s cut), whatever the load did meanwhile.
                var left = PartitionLength - (load.Now - cutAt);
                if (left > TimeSpan.Zero)
                    await Task.Delay(left);
            }
            finally
            {
                // The heal is several iptables calls (100s of ms on a busy machine); the first one can reconnect the
                // minority, which may then rejoin and answer 200 before the last returns.
                healing = load.Now;
                CutUdp(netns, addresses[2].Namespace, cut: false);
                healed = load.Now;
            }
            await sut.WaitForMembersAsync(3, TimeSpan.FromSeconds(60));
            var acked = load.Sessions.Sum(s => s.Acked);
            await Eventually.Until(() => load.Sessions.Sum(s => s.Acked) >= acked + 20, "the load keeps going after healing", TimeSpan.FromSeconds(60));
            await load.StopAsync();

            var (finals, disagreements) = await PauseFaultEndToEndTests.SettledFinalsAsync(sut, sessions);
            var violations = load.Check(finals);
            var inPartition = load.Answers.Where(a => a.Started >= cutOff && a.Ended <= healing).ToList();
            var minorityAnswers = inPartition.Where(a => a.Node == minority.Url).ToList();
            // The one ambiguous answer: a commit the minority had in flight when the cut began (before the majority
            // saw it) may be held by the majority or not, and only the majority can tell; given before the heal (a
            // partition longer than the commit deadline), the host says so (500 "may or may not have been stored")
            // and the accounting counts it as unknown. After the heal the node must have learnt the outcome.
            var inDoubt = load.Answers.Where(a => a.Status == (int)HttpStatusCode.InternalServerError && a.Node == minority.Url
                && a.Started <= cutOff && a.Ended <= healed && a.Body.Contains("may or may not have been stored", StringComparison.Ordinal)).ToList();
            var failures = load.Answers.Where(a => a.Status >= 500 && a.Status != (int)HttpStatusCode.ServiceUnavailable).Except(inDoubt).ToList();
            TestContext.Out.WriteLine($"cut at {cutAt.TotalSeconds:0.000}s, seen {cutOff.TotalSeconds:0.000}s, healed {healing.TotalSeconds:0.000}–{healed.TotalSeconds:0.000}s; minority answers: "
                + string.Join(", ", minorityAnswers.GroupBy(a => a.Status).Select(g => $"{g.Count()} x {g.Key}"))
                + $"; in doubt: {inDoubt.Count}" + string.Concat(inDoubt.Select(a => $"\n  {a}"))
                + "; in flight on the minority at the cut: " + string.Join(", ", load.Answers.Where(a => a.Node == minority.Url && a.Started <= cutAt && a.Ended > cutAt).Select(a => $"{a.Status} after {(a.Ended - a.Started).TotalSeconds:0.0}s")));
            Assert.Multiple(() =>
            {
                Assert.That(minorityAnswers.Where(a => a.Status == (int)HttpStatusCode.OK), Is.Empty, "the minority acknowledges nothing");
                Assert.That(minorityAnswers.Where(a => a.Status == (int)HttpStatusCode.ServiceUnavailable), Is.Not.Empty, "the minority refuses with 503");
                Assert.That(disagreements, Is.Empty, "after healing every node answers the same count");
                Assert.That(violations, Is.Empty, "no lost and no phantom update");
                Assert.That(failures, Is.Empty, "no 5xx other than 503");
            });
        }
        finally
        {
            netns.Down(prefix);
        }
    }

    /// <summary>Polls <paramref name="condition"/> for 30 s; fails with what <paramref name="describe"/> says then.</summary>
    private static async Task UntilAsync(Func<bool> condition, Func<string> describe)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"Timed out waiting until {describe()}");
            await Task.Delay(PollInterval);
        }
    }

    /// <summary>Waits until node i's view has <paramref name="expected"/>[i] members; fails naming every node's view.</summary>
    private static async Task ViewsAsync(TestCluster cluster, int?[] expected, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var views = await Task.WhenAll(cluster.Nodes.Select(async n =>
            {
                try
                {
                    return (await cluster.StatusAsync(n)).GetProperty("members").GetArrayLength();
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
                {
                    return -1;
                }
            }));
            if (views.Zip(expected).All(p => p.Second is null || p.First == p.Second))
            {
                TestContext.Out.WriteLine($"{what}: members per node {string.Join(", ", views)}");
                return;
            }
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"Timed out waiting until {what}: members per node {string.Join(", ", views)}, expected {string.Join(", ", expected.Select(e => e?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "any"))}");
            await Task.Delay(PollInterval);
        }
    }

    /// <summary>Drops every UDP datagram into and out of the namespace (TCP, so HTTP, still flows), or lifts that.</summary>
    private static void CutUdp(NetnsTools netns, string ns, bool cut)
    {
        var action = cut ? "-A" : "-D";
        Run(netns.Ip, "netns", "exec", ns, "iptables", "-w", action, "INPUT", "-p", "udp", "-j", "DROP");
        Run(netns.Ip, "netns", "exec", ns, "iptables", "-w", action, "OUTPUT", "-p", "udp", "-j", "DROP");
    }

    private static void Run(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments)
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            Assert.Fail($"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}): {stderr.Result}");
    }
}
