using System.Diagnostics;
using Multicast.Bench.Cluster;
using Multicast.Bench.SessionCost;
using Multicast.Sessions;

namespace Multicast.Bench.Profile;

/// <summary>
/// Where a read on the owner spends its time: tight in-process loops (no per-request timestamps, unlike
/// <c>session</c>) over the layers of the read — the bench's read, the manager's begin, the store's find — and the
/// pieces they are made of (clock readings, the id check, a table look-up), beside the dictionary read. Each figure is
/// the best of <c>--reps</c> windows of <c>--n</c> calls, so a busy machine's preemptions fall out.
/// </summary>
internal sealed class OwnerReadProfile : IBenchScenario
{
    public string Name => "owner-read-profile";

    public string Description => "ns per call of the owner read's layers and pieces, best of R windows (in-process loops) [--n N --reps R]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var n = arguments.GetInt("n", 200_000);
        var reps = arguments.GetInt("reps", 30);
        var payload = new byte[1024];
        var dictionary = new DictionaryBackend();
        var dictionaryIds = new string[200];
        for (var i = 0; i < dictionaryIds.Length; i++)
            dictionaryIds[i] = await dictionary.CreateAsync(payload, cancellationToken);
        await using var cluster = await BenchCluster.StartAsync(3, cancellationToken: cancellationToken);
        var owner = cluster.Nodes[0];
        var backend = new ClusterBackend("read-only", owner, owner);
        var ids = new string[200];
        for (var i = 0; i < ids.Length; i++)
            ids[i] = await backend.CreateAsync(payload, cancellationToken);
        var store = owner.Store;
        var time = TimeProvider.System;
        var table = owner.Table;

        var cases = new (string Name, Func<int, long> Body)[]
        {
            ("dictionary_read", i => dictionary.ReadAsync(dictionaryIds[i % 200], default).Result),
            ("cluster_read", i => backend.ReadAsync(ids[i % 200], default).Result),
            ("manager_begin_request", i => owner.BeginRequestAsync(ids[i % 200], SessionAccess.ReadOnly).Result!.Version),
            ("store_find", i => store.FindAsync(ids[i % 200], SessionAccess.ReadOnly).Result!.Version),
            ("time_get_utc_now", _ => time.GetUtcNow().Ticks),
            ("time_get_timestamp", _ => time.GetTimestamp()),
            ("environment_tick_count64", _ => Environment.TickCount64),
            ("session_ids_try_parse_owner", i => SessionIds.TryParseOwner(ids[i % 200], out var r) ? r : 1),
            ("session_table_get", i => table.Get(ids[i % 200])!.Version),
        };
        var best = new double[cases.Length];
        Array.Fill(best, double.MaxValue);
        long sink = 0;
        for (var rep = 0; rep < reps; rep++)
        {
            for (var c = 0; c < cases.Length; c++)
            {
                var body = cases[c].Body;
                for (var i = 0; i < 1_000; i++)
                    sink += body(i);
                var start = Stopwatch.GetTimestamp();
                for (var i = 0; i < n; i++)
                    sink += body(i);
                best[c] = Math.Min(best[c], Stopwatch.GetElapsedTime(start).TotalNanoseconds / n);
            }
        }

        var report = new BenchReport();
        report.Notes.Add($"in-process loops, one call at a time: best of {reps} windows of {n} calls each; 200 sessions (counter + 1 KiB), 3-node cluster in this process (the owner answers from its table). checksum {sink}.");
        var result = report.Add("owner_read_ns");
        for (var c = 0; c < cases.Length; c++)
            result.Set(cases[c].Name, best[c]);
        report.Ratios["cluster_read_vs_dictionary_read"] = best[1] / best[0];
        return report;
    }
}
