using System.Diagnostics;
using Multicast.Bench.Cluster;
using Multicast.Bench.Postgres;

namespace Multicast.Bench.SessionCost;

/// <summary>
/// Cost per request of find + lock + commit, one request at a time (so the figure is the cost of one request,
/// not a queueing effect): a plain dictionary; a 3-node replicated cluster in this process over real UDP on
/// loopback, sticky (on the owner), on a non-owner and read-only; a private PostgreSQL (SELECT ... FOR UPDATE +
/// UPDATE per request). Every request increments a counter in a session that also holds a 1 KiB attribute.
/// </summary>
internal sealed class SessionScenario : IBenchScenario
{
    public string Name => "session";

    public string Description => "cost per request: dictionary vs cluster (sticky, non-owner, read-only) vs PostgreSQL [--seconds S --sessions N]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var duration = TimeSpan.FromSeconds(arguments.GetDouble("seconds", 3));
        var sessions = arguments.GetInt("sessions", 200);
        var report = new BenchReport();
        report.Notes.Add($"each variant: {sessions} sessions (counter + 1 KiB attribute), 0.5 s warm-up, then one request at a time for {duration.TotalSeconds} s, round-robin over the sessions; cost_us = wall time / requests.");
        report.Notes.Add("cluster: 3 nodes in this process, UDP multicast on 127.0.0.1, ReplicatedClusterStore defaults (ReplicationAcks 1: a write completes once one other node holds it); postgres: private server (initdb, fsync on, synchronous_commit on), Npgsql pool.");
        report.Notes.Add("ratios: sticky_vs_dictionary = sticky cost / dictionary cost (target <= 2); postgres_vs_sticky = postgres cost / sticky cost (target >= 100).");

        var payload = new byte[1024];
        Random.Shared.NextBytes(payload);

        var dictionary = await MeasureAsync(report, new DictionaryBackend(), write: true, "dictionary", sessions, payload, duration, cancellationToken);
        await MeasureAsync(report, new DictionaryBackend(), write: false, "dictionary_read_only", sessions, payload, duration, cancellationToken);

        double sticky, stickyAcks0;
        await using (var cluster = await BenchCluster.StartAsync(3, cancellationToken: cancellationToken))
        {
            var owner = cluster.Nodes[0];
            sticky = await MeasureAsync(report, new ClusterBackend("sticky", owner, owner), write: true, "cluster_sticky", sessions, payload, duration, cancellationToken);
            await MeasureAsync(report, new ClusterBackend("non-owner", owner, cluster.Nodes[1]), write: true, "cluster_non_owner", sessions, payload, duration, cancellationToken);
            await MeasureAsync(report, new ClusterBackend("read-only", owner, owner), write: false, "cluster_read_only_owner", sessions, payload, duration, cancellationToken);
            await MeasureAsync(report, new ClusterBackend("read-only", owner, cluster.Nodes[1]), write: false, "cluster_read_only_non_owner", sessions, payload, duration, cancellationToken);
        }
        await using (var cluster = await BenchCluster.StartAsync(3, o => o.ReplicationAcks = 0, cancellationToken))
        {
            var owner = cluster.Nodes[0];
            stickyAcks0 = await MeasureAsync(report, new ClusterBackend("sticky", owner, owner), write: true, "cluster_sticky_acks0", sessions, payload, duration, cancellationToken);
        }

        await AckRoundTrip.MeasureAsync(report, "", null, duration, cancellationToken);
        // The same with a 0.1 ms ack interval: shows how much of the write's cost is the delayed ack.
        await AckRoundTrip.MeasureAsync(report, "_ack_interval_0_1ms", o => o.AckInterval = TimeSpan.FromMilliseconds(0.1), duration, cancellationToken);

        double postgres = double.NaN;
        try
        {
            await using var server = await PostgresServer.StartAsync(cancellationToken: cancellationToken);
            await using var source = server.CreateDataSource();
            var backend = new PostgresBackend(source);
            await backend.EnsureSchemaAsync(cancellationToken);
            postgres = await MeasureAsync(report, backend, write: true, "postgres", sessions, payload, duration, cancellationToken);
            await MeasureAsync(report, backend, write: false, "postgres_read_only", sessions, payload, duration, cancellationToken);
        }
        catch (InvalidOperationException ex)
        {
            report.Notes.Add($"postgres not measured: {ex.Message}");
        }

        report.Ratios["sticky_vs_dictionary"] = sticky / dictionary;
        report.Ratios["sticky_acks0_vs_dictionary"] = stickyAcks0 / dictionary;
        report.Ratios["postgres_vs_sticky"] = postgres / sticky;
        report.Ratios["postgres_vs_sticky_acks0"] = postgres / stickyAcks0;
        return report;
    }

    /// <summary>Runs one variant; returns its cost per request in microseconds.</summary>
    private static async Task<double> MeasureAsync(BenchReport report, ISessionBackend backend, bool write, string name, int sessions, byte[] payload,
        TimeSpan duration, CancellationToken cancellationToken)
    {
        var ids = new string[sessions];
        for (var i = 0; i < sessions; i++)
            ids[i] = await backend.CreateAsync(payload, cancellationToken);

        await RunAsync(backend, write, ids, TimeSpan.FromMilliseconds(500), null, cancellationToken);
        (backend as ClusterBackend)?.ResetBreakdown();
        var latencies = new Latencies(4_000_000);
        var (requests, elapsed) = await RunAsync(backend, write, ids, duration, latencies, cancellationToken);

        var cost = elapsed.TotalMilliseconds * 1000 / requests;
        var result = report.Add(name).Set("requests", requests).Set("requests_per_s", requests / elapsed.TotalSeconds).Set("cost_us", cost);
        latencies.Report(result);
        if (write && backend is ClusterBackend cluster)
        {
            var (begin, end) = cluster.Breakdown;
            result.Set("begin_find_lock_us", begin).Set("end_commit_unlock_us", end);
        }
        return cost;
    }

    private static async Task<(long Requests, TimeSpan Elapsed)> RunAsync(ISessionBackend backend, bool write, string[] ids, TimeSpan duration,
        Latencies? latencies, CancellationToken cancellationToken)
    {
        long requests = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var id = ids[requests % ids.Length];
            var started = Stopwatch.GetTimestamp();
            if (write)
                await backend.IncrementAsync(id, cancellationToken);
            else
                await backend.ReadAsync(id, cancellationToken);
            latencies?.Add(Stopwatch.GetTimestamp() - started);
            requests++;
        }
        return (requests, clock.Elapsed);
    }
}
