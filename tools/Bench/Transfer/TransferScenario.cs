using System.Diagnostics;
using Multicast.Bench.Cluster;
using Multicast.Sessions;

namespace Multicast.Bench.Transfer;

/// <summary>
/// State transfer: a 2-node cluster (in this process, UDP on loopback) holds 100k sessions of 1 KiB; a third node
/// joins; measured: seconds from its start until its store reports ready (what the host's /health reports), and
/// that it then holds every session.
/// </summary>
internal sealed class TransferScenario : IBenchScenario
{
    public string Name => "transfer";

    public string Description => "a node joining a cluster that holds 100k sessions of 1 KiB: seconds until ready [--sessions N --bytes B]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var count = arguments.GetInt("sessions", 100_000);
        var bytes = arguments.GetInt("bytes", 1024);
        var report = new BenchReport();
        report.Notes.Add($"2 nodes hold {count} sessions with one {bytes}-byte attribute each (filled with ReplicationAcks 0, 16 requests in flight); then node3 starts; joining_s = from SessionManager.StartAsync to the store reporting ready (IsReady, what GET /health answers 200 on). All nodes in this one process over UDP multicast on 127.0.0.1 (they share the 2 cores).");

        await using var cluster = await BenchCluster.StartAsync(2, o => o.ReplicationAcks = 0, cancellationToken);
        var source = cluster.Nodes[0];
        var payload = new byte[bytes];
        Random.Shared.NextBytes(payload);

        var fill = Stopwatch.StartNew();
        var next = -1;
        async Task FillAsync()
        {
            while (Interlocked.Increment(ref next) < count)
            {
                var session = await source.CreateAsync(cancellationToken);
                session.Set("data", payload);
                await source.EndRequestAsync(session, cancellationToken);
            }
        }
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(FillAsync, cancellationToken)));
        var filled = fill.Elapsed;
        var replicated = await WaitForAsync(() => cluster.Nodes.All(n => n.Count >= count), TimeSpan.FromSeconds(120), cancellationToken);
        var settled = fill.Elapsed;
        report.Add("fill")
            .Set("sessions", count)
            .Set("fill_s", filled.TotalSeconds)
            .Set("fill_sessions_per_s", count / filled.TotalSeconds)
            .Set("replicated_to_second_node_s", replicated ? settled.TotalSeconds : double.NaN);
        Console.Error.WriteLine($"transfer: {count} sessions filled in {filled.TotalSeconds:0.0} s, on both nodes after {settled.TotalSeconds:0.0} s; starting node3 ...");

        GC.Collect();
        var join = Stopwatch.StartNew();
        SessionManager joiner;
        using (var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            limit.CancelAfter(TimeSpan.FromSeconds(120));
            joiner = await cluster.AddNodeAsync(limit.Token);
        }
        var ready = join.Elapsed;
        var held = joiner.Count;
        report.Add("join")
            .Set("joining_s", ready.TotalSeconds)
            .Set("sessions_held_when_ready", held)
            .Set("sessions_per_s", held / ready.TotalSeconds)
            .Set("mb_per_s", held * (double)bytes / 1e6 / ready.TotalSeconds);
        report.Ratios["joining_s_vs_target_5s"] = ready.TotalSeconds / 5;
        if (held < count)
            report.Notes.Add($"node3 reported ready holding {held} of {count} sessions");
        return report;
    }

    private static async Task<bool> WaitForAsync(Func<bool> condition, TimeSpan limit, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > limit)
                return false;
            await Task.Delay(50, cancellationToken);
        }
        return true;
    }
}
