using Multicast.AspNetCore;
using Multicast.Bench.Http;
using Multicast.Bench.Redis;

namespace Multicast.Bench.SharedSession;

/// <summary>
/// What the speed buys: clients that share one session cookie send <c>POST /counter</c> concurrently to random
/// nodes, against 3 of our nodes and against 3 ASP.NET Core processes on Redis session (no lock: the last writer
/// wins), counting acknowledged increments that are missing at the end. Also one client alone, non-sticky: ASP.NET
/// Core's session commits after the endpoint has written its answer, so the client's next request can read the
/// state before it.
/// </summary>
internal sealed class LostUpdatesScenario : IBenchScenario
{
    public string Name => "lost-updates";

    public string Description => "shared session cookie, concurrent POST /counter to random nodes: 3 cluster nodes vs 3 Redis-session apps, lost updates [--clients N --requests R --rounds S]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var clients = arguments.GetInt("clients", 2);
        var requests = arguments.GetInt("requests", 300);
        var rounds = Math.Max(1, arguments.GetInt("rounds", 3));
        var report = new BenchReport();
        report.Notes.Add($"each round: one POST /counter creates a session, then {clients} clients with its cookie send {requests} POST /counter each (one after another per client, the clients at once), every request to a random one of the 3 processes; then GET /counter on every process until they agree. Then the same with 1 client. {rounds} rounds per side, alternated; figures summed over the rounds.");
        report.Notes.Add("acknowledged = 200 answers (the creating POST included); lost = acknowledged - final (increments answered and gone); duplicate_answers = 200 answers carrying a value another 200 answer already carried (two requests read the same state); unknown = no answer (may or may not be applied); rejected = 409/503 before the endpoint ran.");
        var logs = Directory.CreateTempSubdirectory("multicast-bench-lost-updates-").FullName;
        report.Notes.Add($"process logs: {logs}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };

        var hostDll = await HttpScenario.HostDllAsync(cancellationToken);
        await using var redis = await RedisServer.StartAsync(cancellationToken: cancellationToken);
        var keys = Path.Combine(logs, "data-protection-keys");
        SharedKeyRing.Create(keys);
        await using var cluster = await AppGroup.StartClusterAsync(RedisComparison.Cluster, hostDll, 3, [], logs, http, cancellationToken);
        await using var redisApps = await AppGroup.StartBaselineAsync(RedisComparison.Redis, 3, ["--store", "redis", "--redis", redis.Configuration, "--keys", keys], [redis.ProcessId], logs, http, cancellationToken);

        var tallies = new Dictionary<string, List<SharedCounterTally>>(StringComparer.Ordinal);
        var seed = arguments.GetInt("seed", Environment.TickCount);
        for (var round = 1; round <= rounds; round++)
        {
            AppGroup[] order = round % 2 == 1 ? [cluster, redisApps] : [redisApps, cluster];
            foreach (var concurrent in new[] { clients, 1 })
            {
                foreach (var side in order)
                {
                    var name = $"{side.Name}_{concurrent}_client{(concurrent == 1 ? "" : "s")}";
                    Console.Error.WriteLine($"lost-updates: round {round}/{rounds}: {name} ...");
                    var run = new SharedCounterRun(side.Apps.Select(a => a.Url).ToArray(), ClusteredSessionOptions.DefaultCookieName) { Clients = concurrent, RequestsPerClient = requests, Seed = seed++ };
                    var tally = await run.RunAsync(cancellationToken);
                    if (!tallies.TryGetValue(name, out var list))
                        tallies[name] = list = [];
                    list.Add(tally);
                }
            }
        }

        foreach (var (name, list) in tallies)
        {
            var acknowledged = list.Sum(t => t.Acknowledged);
            var lost = list.Sum(t => t.Lost);
            report.Add(name)
                .Set("sessions", list.Count)
                .Set("acknowledged", acknowledged)
                .Set("final_total", list.Sum(t => t.Final ?? 0))
                .Set("lost", lost)
                .Set("lost_percent", 100.0 * lost / acknowledged)
                .Set("duplicate_answers", list.Sum(t => t.DuplicateAnswers))
                .Set("phantom", list.Sum(t => t.Phantom))
                .Set("unknown", list.Sum(t => t.Unknown))
                .Set("rejected", list.Sum(t => t.Rejected))
                .Set("nodes_disagree", list.Count(t => t.NodesDisagree))
                .Set("requests_per_s", (acknowledged + list.Sum(t => t.Rejected + t.Unknown) - list.Count) / list.Sum(t => t.Elapsed.TotalSeconds));
        }
        return report;
    }
}
