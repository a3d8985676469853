using System.Diagnostics;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Multicast.Bench.Cluster;
using Multicast.Bench.Postgres;
using Multicast.Bench.Redis;
using Multicast.Bench.RoundTrip;
using StackExchange.Redis;

namespace Multicast.Bench.SessionCost;

/// <summary>
/// Cost per request of find + lock + commit, one request at a time (so the figure is the cost of one request,
/// not a queueing effect): a plain dictionary; a 3-node replicated cluster in this process over real UDP on
/// loopback, sticky (on the owner), on a non-owner and read-only; ASP.NET Core's session over the real RedisCache
/// on a private redis-server (what .NET teams run today); a private PostgreSQL (SELECT ... FOR UPDATE + UPDATE per
/// request). Every request increments a counter in a session that also holds a 1 KiB attribute. The cluster and
/// Redis variants are measured in alternated rounds (medians reported); every cost also in loopback UDP round trips.
/// </summary>
internal sealed class SessionScenario : IBenchScenario
{
    public string Name => "session";

    public string Description => "cost per request: dictionary vs cluster (sticky, non-owner, read-only) vs Redis session vs PostgreSQL [--seconds S --sessions N --rounds R --only cluster[_sticky|_non_owner|_read_only]]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var duration = TimeSpan.FromSeconds(arguments.GetDouble("seconds", 3));
        var sessions = arguments.GetInt("sessions", 200);
        var rounds = Math.Max(1, arguments.GetInt("rounds", 3));
        // --only cluster[_VARIANT]: the UDP unit, the dictionary and the cluster's variants whose names start so (no Redis,
        // no PostgreSQL, no channel-only runs): a quick loop while working on the commit path.
        var only = arguments.Get("only");
        var clusterOnly = only?.StartsWith("cluster", StringComparison.Ordinal) == true;
        var report = new BenchReport();
        report.Notes.Add($"each variant: {sessions} sessions (counter + 1 KiB attribute), 0.5 s warm-up, then one request at a time for {duration.TotalSeconds} s, round-robin over the sessions; cost_us = wall time / requests.");
        report.Notes.Add($"the cluster and Redis variants run in {rounds} alternated rounds of {duration.TotalSeconds} s each (cluster_sticky, cluster_non_owner, reads, redis write, redis read, then again): cost_us is the median of the rounds' costs (cost_us_round_N each), latencies over all rounds.");
        report.Notes.Add("cluster: 3 nodes in this process, UDP multicast on 127.0.0.1, ReplicatedClusterStore defaults (ReplicationAcks 1: a write completes once one other node holds it); postgres: private server (initdb, fsync on, synchronous_commit on), Npgsql pool.");
        report.Notes.Add("redis: private redis-server (Debian's, 127.0.0.1, no persistence), the real RedisCache (Microsoft.Extensions.Caching.StackExchangeRedis over StackExchange.Redis, one multiplexer) under ASP.NET Core's DistributedSession exactly as AddSession uses it: a write = LoadAsync (GetAsync) + SetInt32 + CommitAsync (SetAsync), a read = LoadAsync (GetAsync) + CommitAsync (RefreshAsync); no lock (last writer wins).");
        report.Notes.Add("ratios: sticky_vs_dictionary = sticky cost / dictionary cost (target <= 2); postgres_vs_sticky = postgres cost / sticky cost (target >= 100); redis_write_vs_sticky_write (target >= 5), redis_read_vs_owner_read (target >= 100), redis_write_vs_non_owner_write (target >= 3): Redis session cost / ours; owner_read_vs_dictionary_read = read-only on the owner / dictionary read (target <= 1.5).");
        report.Notes.Add("allocated_bytes_per_request: bytes allocated by the whole process (GC.GetTotalAllocatedBytes, precise) over the measured requests / requests: every thread, since a request may resume on another one; so it includes the in-process cluster's own background traffic (heartbeats, acks), and for a write the other nodes' apply.");

        var payload = new byte[1024];
        Random.Shared.NextBytes(payload);

        var unit = await UdpRoundTrip.MeasureAsync(report, TimeSpan.FromSeconds(Math.Min(2, duration.TotalSeconds)), cancellationToken);

        var dictionary = await MeasureOnceAsync(report, new DictionaryBackend(), write: true, "dictionary", sessions, payload, duration, cancellationToken);
        var dictionaryRead = await MeasureOnceAsync(report, new DictionaryBackend(), write: false, "dictionary_read_only", sessions, payload, duration, cancellationToken);

        var alternated = new List<Variant>();
        await using (var cluster = await BenchCluster.StartAsync(3, cancellationToken: cancellationToken))
        await using (var redis = clusterOnly ? null : await TryStartRedisAsync(report, cancellationToken))
        {
            var owner = cluster.Nodes[0];
            alternated.Add(new Variant("cluster_sticky", new ClusterBackend("sticky", owner, owner), write: true));
            alternated.Add(new Variant("cluster_non_owner", new ClusterBackend("non-owner", owner, cluster.Nodes[1]), write: true));
            alternated.Add(new Variant("cluster_read_only_owner", new ClusterBackend("read-only", owner, owner), write: false));
            alternated.Add(new Variant("cluster_read_only_non_owner", new ClusterBackend("read-only", owner, cluster.Nodes[1]), write: false));
            RedisCache? cache = null;
            CallCountingCache? counting = null;
            ConnectionMultiplexer? admin = null;
            try
            {
                if (redis is not null)
                {
                    cache = new RedisCache(new RedisCacheOptions { Configuration = redis.Configuration, InstanceName = "bench:" });
                    counting = new CallCountingCache(cache);
                    admin = await ConnectionMultiplexer.ConnectAsync(redis.Configuration + ",allowAdmin=true");
                    alternated.Add(new Variant("redis_session_write", new DistributedSessionBackend("redis", counting), write: true) { Redis = (counting, admin) });
                    alternated.Add(new Variant("redis_session_read", new DistributedSessionBackend("redis", counting), write: false) { Redis = (counting, admin) });
                }
                if (clusterOnly)
                    alternated.RemoveAll(v => !v.Name.StartsWith(only!, StringComparison.Ordinal));
                foreach (var variant in alternated)
                    await variant.PrepareAsync(sessions, payload, cancellationToken);
                for (var round = 1; round <= rounds; round++)
                {
                    Console.Error.WriteLine($"session: round {round}/{rounds} ...");
                    foreach (var variant in alternated)
                        await variant.MeasureRoundAsync(duration, cancellationToken);
                }
                foreach (var variant in alternated)
                    variant.Report(report);
                if (admin is not null)
                    await RedisPingAsync(report, admin, duration, cancellationToken);
            }
            finally
            {
                cache?.Dispose();
                if (admin is not null)
                    await admin.DisposeAsync();
            }
        }

        var stickyAcks0 = double.NaN;
        double postgres = double.NaN;
        if (clusterOnly)
            return Finish(report, alternated, dictionary, dictionaryRead, stickyAcks0, postgres, unit);

        await using (var cluster = await BenchCluster.StartAsync(3, o => o.ReplicationAcks = 0, cancellationToken))
        {
            var owner = cluster.Nodes[0];
            stickyAcks0 = await MeasureOnceAsync(report, new ClusterBackend("sticky", owner, owner), write: true, "cluster_sticky_acks0", sessions, payload, duration, cancellationToken);
        }

        await AckRoundTrip.MeasureAsync(report, "", null, duration, cancellationToken);
        // The same with a 0.1 ms ack interval: shows how much of the write's cost is the delayed ack.
        await AckRoundTrip.MeasureAsync(report, "_ack_interval_0_1ms", o => o.AckInterval = TimeSpan.FromMilliseconds(0.1), duration, cancellationToken);

        try
        {
            await using var server = await PostgresServer.StartAsync(cancellationToken: cancellationToken);
            await using var source = server.CreateDataSource();
            var backend = new PostgresBackend(source);
            await backend.EnsureSchemaAsync(cancellationToken);
            postgres = await MeasureOnceAsync(report, backend, write: true, "postgres", sessions, payload, duration, cancellationToken);
            await MeasureOnceAsync(report, backend, write: false, "postgres_read_only", sessions, payload, duration, cancellationToken);
        }
        catch (InvalidOperationException ex)
        {
            report.Notes.Add($"postgres not measured: {ex.Message}");
        }
        return Finish(report, alternated, dictionary, dictionaryRead, stickyAcks0, postgres, unit);
    }

    private static BenchReport Finish(BenchReport report, List<Variant> alternated, double dictionary, double dictionaryRead, double stickyAcks0, double postgres, double unit)
    {
        double Cost(string name) => alternated.FirstOrDefault(v => v.Name == name)?.MedianCost ?? double.NaN;
        var sticky = Cost("cluster_sticky");
        report.Ratios["sticky_vs_dictionary"] = sticky / dictionary;
        report.Ratios["sticky_acks0_vs_dictionary"] = stickyAcks0 / dictionary;
        report.Ratios["postgres_vs_sticky"] = postgres / sticky;
        report.Ratios["postgres_vs_sticky_acks0"] = postgres / stickyAcks0;
        report.Ratios["redis_write_vs_sticky_write"] = Cost("redis_session_write") / sticky;
        report.Ratios["redis_read_vs_owner_read"] = Cost("redis_session_read") / Cost("cluster_read_only_owner");
        report.Ratios["redis_write_vs_non_owner_write"] = Cost("redis_session_write") / Cost("cluster_non_owner");
        report.Ratios["redis_read_vs_non_owner_read"] = Cost("redis_session_read") / Cost("cluster_read_only_non_owner");
        // The same from the medians (p50 over all rounds' requests): less moved by a loaded machine's preemptions than the means.
        double P50(string name) => report.Results.FirstOrDefault(r => r.Name == name)?.Figures.GetValueOrDefault("p50_ms", double.NaN) ?? double.NaN;
        report.Ratios["owner_read_vs_dictionary_read"] = Cost("cluster_read_only_owner") / dictionaryRead;
        report.Ratios["owner_read_vs_dictionary_read_p50"] = P50("cluster_read_only_owner") / P50("dictionary_read_only");
        report.Ratios["redis_write_vs_sticky_write_p50"] = P50("redis_session_write") / P50("cluster_sticky");
        report.Ratios["redis_read_vs_owner_read_p50"] = P50("redis_session_read") / P50("cluster_read_only_owner");
        report.Ratios["redis_write_vs_non_owner_write_p50"] = P50("redis_session_write") / P50("cluster_non_owner");
        InRoundTrips(report, unit);
        return report;
    }

    /// <summary>Adds <c>cost_round_trips</c> (and <c>p50_round_trips</c>) to every result that has a cost, in units of the raw UDP round trip.</summary>
    internal static void InRoundTrips(BenchReport report, double unit)
    {
        foreach (var result in report.Results)
        {
            if (result.Figures.TryGetValue("cost_us", out var cost))
                result.Set("cost_round_trips", cost / unit);
            if (result.Figures.TryGetValue("p50_ms", out var p50))
                result.Set("p50_round_trips", p50 * 1000 / unit);
        }
    }

    private static async Task<RedisServer?> TryStartRedisAsync(BenchReport report, CancellationToken cancellationToken)
    {
        try
        {
            return await RedisServer.StartAsync(cancellationToken: cancellationToken);
        }
        catch (InvalidOperationException ex)
        {
            report.Notes.Add($"redis not measured: {ex.Message}");
            return null;
        }
    }

    /// <summary>The Redis server's own unit: one PING through the same client library, one at a time.</summary>
    private static async Task RedisPingAsync(BenchReport report, ConnectionMultiplexer connection, TimeSpan duration, CancellationToken cancellationToken)
    {
        var database = connection.GetDatabase();
        var latencies = new Latencies(4_000_000);
        long count = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var started = Stopwatch.GetTimestamp();
            await database.PingAsync();
            latencies.Add(Stopwatch.GetTimestamp() - started);
            count++;
        }
        var result = report.Add("redis_ping").Set("requests", count).Set("cost_us", clock.Elapsed.TotalMilliseconds * 1000 / count);
        latencies.Report(result);
    }

    /// <summary>Runs one variant once (warm-up included); returns its cost per request in microseconds.</summary>
    private static async Task<double> MeasureOnceAsync(BenchReport report, ISessionBackend backend, bool write, string name, int sessions, byte[] payload,
        TimeSpan duration, CancellationToken cancellationToken)
    {
        var variant = new Variant(name, backend, write);
        await variant.PrepareAsync(sessions, payload, cancellationToken);
        await variant.MeasureRoundAsync(duration, cancellationToken);
        variant.Report(report);
        return variant.MedianCost;
    }

    /// <summary>One measured configuration: its sessions, its rounds' costs, its latencies over all rounds.</summary>
    private sealed class Variant(string name, ISessionBackend backend, bool write)
    {
        private readonly List<double> _costs = [];
        private readonly Latencies _latencies = new(4_000_000);
        private string[] _ids = [];
        private long _requests;
        private long _allocated;
        private TimeSpan _elapsed;
        private (double Begin, double End, long Requests) _breakdown;
        private (long Gets, long Sets, long Refreshes, long Commands) _calls;

        public string Name => name;

        private ISessionBackend Backend => backend;

        private bool Write => write;

        /// <summary>Set for the Redis variants: the call counter and an admin connection (INFO commandstats).</summary>
        public (CallCountingCache Cache, ConnectionMultiplexer Admin)? Redis { get; init; }

        public double MedianCost => Statistics.Median(_costs);

        public async Task PrepareAsync(int sessions, byte[] payload, CancellationToken cancellationToken)
        {
            _ids = new string[sessions];
            for (var i = 0; i < sessions; i++)
                _ids[i] = await Backend.CreateAsync(payload, cancellationToken);
            await RunAsync(TimeSpan.FromMilliseconds(500), null, cancellationToken);
        }

        public async Task MeasureRoundAsync(TimeSpan duration, CancellationToken cancellationToken)
        {
            var cluster = Backend as ClusterBackend;
            cluster?.ResetBreakdown();
            Redis?.Cache.Reset();
            var commandsBefore = Redis is { } r ? await CommandCallsAsync(r.Admin) : 0;
            var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var (requests, elapsed) = await RunAsync(duration, _latencies, cancellationToken);
            _allocated += GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            _costs.Add(elapsed.TotalMilliseconds * 1000 / requests);
            _requests += requests;
            _elapsed += elapsed;
            if (cluster is not null && Write)
            {
                var (begin, end) = cluster.Breakdown;
                _breakdown = (_breakdown.Begin + (begin * requests), _breakdown.End + (end * requests), _breakdown.Requests + requests);
            }
            if (Redis is { } redis)
            {
                // INFO itself is one command: not the requests'.
                var commands = await CommandCallsAsync(redis.Admin) - commandsBefore - 1;
                _calls = (_calls.Gets + redis.Cache.Gets, _calls.Sets + redis.Cache.Sets, _calls.Refreshes + redis.Cache.Refreshes, _calls.Commands + commands);
            }
        }

        public void Report(BenchReport report)
        {
            var result = report.Add(Name).Set("requests", _requests).Set("requests_per_s", _requests / _elapsed.TotalSeconds).Set("cost_us", MedianCost)
                .Set("allocated_bytes_per_request", (double)_allocated / _requests);
            for (var i = 0; i < _costs.Count; i++)
                result.Set($"cost_us_round_{i + 1}", _costs[i]);
            _latencies.Report(result);
            if (_breakdown.Requests > 0)
                result.Set("begin_find_lock_us", _breakdown.Begin / _breakdown.Requests).Set("end_commit_unlock_us", _breakdown.End / _breakdown.Requests);
            if (Redis is not null)
            {
                result.Set("cache_gets_per_request", (double)_calls.Gets / _requests).Set("cache_sets_per_request", (double)_calls.Sets / _requests)
                    .Set("cache_refreshes_per_request", (double)_calls.Refreshes / _requests).Set("redis_commands_per_request", (double)_calls.Commands / _requests);
            }
        }

        /// <summary>Commands the server has executed so far (the sum of INFO commandstats' calls).</summary>
        private static async Task<long> CommandCallsAsync(ConnectionMultiplexer admin)
        {
            var server = admin.GetServer(admin.GetEndPoints()[0]);
            var info = await server.InfoAsync("commandstats");
            return info.SelectMany(g => g).Sum(kv => ParseCalls(kv.Value));
        }

        private static long ParseCalls(string stats)
        {
            // "calls=123,usec=456,usec_per_call=3.7,..."
            var calls = stats.Split(',').FirstOrDefault(p => p.StartsWith("calls=", StringComparison.Ordinal));
            return calls is null ? 0 : long.Parse(calls.AsSpan(6), System.Globalization.CultureInfo.InvariantCulture);
        }

        private async Task<(long Requests, TimeSpan Elapsed)> RunAsync(TimeSpan duration, Latencies? latencies, CancellationToken cancellationToken)
        {
            long requests = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < duration)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var id = _ids[requests % _ids.Length];
                var started = Stopwatch.GetTimestamp();
                if (Write)
                    await Backend.IncrementAsync(id, cancellationToken);
                else
                    await Backend.ReadAsync(id, cancellationToken);
                latencies?.Add(Stopwatch.GetTimestamp() - started);
                requests++;
            }
            return (requests, clock.Elapsed);
        }
    }
}
