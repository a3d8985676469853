using Multicast.Bench.Redis;

namespace Multicast.Bench.Http;

/// <summary>
/// The http scenario's side-by-side: 3 of our nodes (the host) against 3 ASP.NET Core processes with
/// <c>AddStackExchangeRedisCache</c> + <c>AddSession</c> on one private redis-server (one shared Data Protection key
/// ring), the same LoadCheck workload, non-sticky and sticky, in alternated rounds (the order of the two sides
/// swaps every round); and a no-sharing baseline (3 processes of the same app on ASP.NET Core's in-memory session,
/// sticky clients) so the session's own CPU per request shows as (side − baseline). Every process stays up for the
/// whole comparison (warm); each side gets one unrecorded warm-up load first.
/// </summary>
internal sealed class RedisComparison(string hostDll, LoadCheckRunner load, string logs, HttpClient http)
{
    public const string Cluster = "cluster_3_nodes";
    public const string Redis = "redis_session_3_processes";
    public const string Baseline = "no_sharing_in_memory_3_processes";

    public int Rounds { get; init; } = 3;

    public double WarmupSeconds { get; init; } = 5;

    /// <summary>Also run the per-node diagnostic: every request a write, all on one node (see <see cref="WritesOnOneNodeAsync"/>).</summary>
    public bool Diagnostics { get; init; } = true;

    public async Task RunAsync(BenchReport report, CancellationToken cancellationToken)
    {
        RedisServer redis;
        try
        {
            redis = await RedisServer.StartAsync(cancellationToken: cancellationToken);
        }
        catch (InvalidOperationException ex)
        {
            report.Notes.Add($"redis comparison not measured: {ex.Message}");
            return;
        }
        await using var _ = redis;
        var keys = Path.Combine(logs, "data-protection-keys");
        SharedKeyRing.Create(keys);
        await using var cluster = await AppGroup.StartClusterAsync(Cluster, hostDll, 3, [], logs, http, cancellationToken);
        await using var redisApps = await AppGroup.StartBaselineAsync(Redis, 3, ["--store", "redis", "--redis", redis.Configuration, "--keys", keys], [redis.ProcessId], logs, http, cancellationToken);
        await using var baseline = await AppGroup.StartBaselineAsync(Baseline, 3, ["--store", "memory"], [], logs, http, cancellationToken);
        report.Notes.Add($"redis comparison: {Rounds} rounds of {load.Seconds} s loads, in each round non-sticky then sticky, the two sides' order swapped every round, then the baseline; one {WarmupSeconds} s warm-up load per side first. "
            + "Every figure is the median over the rounds (per round: *_round_N); ratios are medians of the rounds' paired ratios. cpu_us_per_request = user + system time of every server process of the side (/proc/<pid>/stat: 3 apps, plus redis-server for the Redis side) over the load window / requests answered; session_cpu_us_per_request = that minus the no-sharing baseline's.");
        report.Notes.Add($"redis side: 3 x Bench serve-baseline --store redis: AddStackExchangeRedisCache (Microsoft.Extensions.Caching.StackExchangeRedis 10, StackExchange.Redis 3.4) + AddSession, LoadAsync then the endpoint, on redis-server {redis.Configuration} (no persistence); Data Protection keys shared in one directory. No session lock: concurrent writes of one session lose updates (see the lost-updates scenario). LoadCheck's clients are sequential per session, yet non-sticky it can still see lost updates on this side: SessionMiddleware commits after the endpoint has written its answer, so a client's next request, on another process, can load the state from before that commit.");

        var warmup = load.For(WarmupSeconds);
        foreach (var (group, sticky) in new[] { (cluster, false), (redisApps, false), (baseline, true) })
            await warmup.RunAsync($"{group.Name}_warmup", group, sticky, finalCheck: group != baseline, new BenchReport(), cancellationToken);

        var runs = new Dictionary<string, List<BenchResult>>(StringComparer.Ordinal);
        for (var round = 1; round <= Rounds; round++)
        {
            Console.Error.WriteLine($"http: redis comparison round {round}/{Rounds}; load average {LoadAverage()}");
            AppGroup[] order = round % 2 == 1 ? [cluster, redisApps] : [redisApps, cluster];
            foreach (var sticky in new[] { false, true })
            {
                foreach (var group in order)
                    await RunAsync(runs, report, group, sticky, finalCheck: true, round, cancellationToken);
            }
            await RunAsync(runs, report, baseline, sticky: true, finalCheck: false, round, cancellationToken);
        }

        if (Diagnostics)
            await WritesOnOneNodeAsync(report, cluster, redisApps, redis.Configuration, redis.ProcessId, keys, cancellationToken);

        var baselineCpu = Median(runs[Baseline + "_sticky"], "cpu_us_per_request");
        foreach (var (name, results) in runs)
        {
            var summary = report.Add(name);
            foreach (var figure in results[0].Figures.Keys)
                summary.Set(figure, Median(results, figure));
            summary.Set("pass", results.Min(r => r.Figures.GetValueOrDefault("pass")));
            summary.Set("rounds", results.Count);
            for (var i = 0; i < results.Count; i++)
            {
                foreach (var figure in new[] { "requests_per_s", "p99_ms", "cpu_us_per_request" })
                    summary.Set($"{figure}_round_{i + 1}", results[i].Figures.GetValueOrDefault(figure, double.NaN));
            }
            if (!name.StartsWith(Baseline, StringComparison.Ordinal))
                summary.Set("session_cpu_us_per_request", summary.Figures.GetValueOrDefault("cpu_us_per_request", double.NaN) - baselineCpu);
        }

        foreach (var (suffix, ratio) in new[] { ("_non_sticky", ""), ("_sticky", "_sticky") })
        {
            var ours = runs[Cluster + suffix];
            var theirs = runs[Redis + suffix];
            report.Ratios["cluster_vs_redis_rps" + ratio] = PairedMedian(ours, theirs, "requests_per_s");
            report.Ratios["cluster_vs_redis_p99" + ratio] = PairedMedian(ours, theirs, "p99_ms");
            report.Ratios["cluster_vs_redis_cpu_per_request" + ratio] = PairedMedian(ours, theirs, "cpu_us_per_request");
            report.Ratios["cluster_vs_redis_session_cpu" + ratio] =
                (Median(ours, "cpu_us_per_request") - baselineCpu) / (Median(theirs, "cpu_us_per_request") - baselineCpu);
        }
    }

    /// <summary>
    /// Where a write's CPU goes, per process: every request a POST, every client on node (app) 1, so node 1 serves
    /// the HTTP request and commits, and the other nodes only receive the replicated write (apply, ack) — or, for the
    /// Redis side, app 1 and redis-server do all the work. The same for a 3-node ring store (one backup per session),
    /// and for both sides with the thread pool's spin-wait off (a runtime setting, no code change).
    /// </summary>
    private async Task WritesOnOneNodeAsync(BenchReport report, AppGroup cluster, AppGroup redisApps, string redisConfiguration, int redisProcessId, string keys,
        CancellationToken cancellationToken)
    {
        var writes = load.For(load.Seconds, reads: 0);
        var noSpin = new Dictionary<string, string> { ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "0" };
        await using var ring = await AppGroup.StartClusterAsync(Cluster + "_ring", hostDll, 3, ["--Cluster:Store=Ring"], logs, http, cancellationToken);
        await using var clusterNoSpin = await AppGroup.StartClusterAsync(Cluster + "_spin_limit_0", hostDll, 3, [], logs, http, cancellationToken, noSpin);
        await using var redisNoSpin = await AppGroup.StartBaselineAsync(Redis + "_spin_limit_0", 3, ["--store", "redis", "--redis", redisConfiguration, "--keys", keys], [redisProcessId], logs, http,
            cancellationToken, noSpin);
        foreach (var group in new[] { ring, clusterNoSpin, redisNoSpin })
            await load.For(WarmupSeconds).RunAsync($"{group.Name}_warmup", group, sticky: false, finalCheck: true, new BenchReport(), cancellationToken);
        foreach (var group in new[] { cluster, ring, clusterNoSpin, redisApps, redisNoSpin })
        {
            var result = await writes.RunAsync($"{group.Name}_writes_on_1", group, sticky: false, finalCheck: true, report, cancellationToken, [group.Apps[0]]);
            result.Set("load_average", LoadAverage());
            report.Results.Add(result);
        }
        report.Notes.Add("*_writes_on_1 (diagnostic, one load each): 100% POST /counter, every client on node/app 1; app_N_cpu_us_per_request = that process's CPU per request: node 1 serves HTTP and commits, nodes 2 and 3 only receive the replicated write (the replicated store sends it to both, the ring store to one backup); for Redis, shared_server_cpu_us_per_request is redis-server's. *_spin_limit_0: the same apps with DOTNET_ThreadPool_UnfairSemaphoreSpinLimit=0 (thread-pool workers block at once instead of spinning in sched_yield when they run out of work).");
    }

    private async Task RunAsync(Dictionary<string, List<BenchResult>> runs, BenchReport report, AppGroup group, bool sticky, bool finalCheck, int round,
        CancellationToken cancellationToken)
    {
        var name = group.Name + (sticky ? "_sticky" : "_non_sticky");
        var result = await load.RunAsync($"{name}_round_{round}", group, sticky, finalCheck, report, cancellationToken);
        result.Set("load_average", LoadAverage());
        if (!runs.TryGetValue(name, out var list))
            runs[name] = list = [];
        list.Add(result);
    }

    private static double LoadAverage() =>
        double.TryParse(File.ReadAllText("/proc/loadavg").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture, out var load) ? load : double.NaN;

    private static double Median(List<BenchResult> results, string figure) => Statistics.Median(results.Select(r => r.Figures.GetValueOrDefault(figure, double.NaN)));

    private static double PairedMedian(List<BenchResult> ours, List<BenchResult> theirs, string figure) =>
        Statistics.Median(ours.Zip(theirs, (a, b) => a.Figures.GetValueOrDefault(figure, double.NaN) / b.Figures.GetValueOrDefault(figure, double.NaN)));
}
