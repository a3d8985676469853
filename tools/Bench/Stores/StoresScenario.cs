using System.Diagnostics;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Transports.InMemory;

namespace Multicast.Bench.Stores;

/// <summary>
/// Memory per node and commit latency, replicated store vs ring store, in one run: four in-process nodes over
/// the in-memory transport (no faults), the same sessions and the same requests for both.
/// </summary>
internal sealed class StoresScenario : IBenchScenario
{
    private const int Nodes = 4;

    public string Name => "stores";

    public string Description => "replicated vs ring store: memory per node and commit latency (4 in-process nodes, in-memory transport) [--sessions N --size B --requests N --concurrency N --backups N]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var sessions = arguments.GetInt("sessions", 100_000);
        var size = arguments.GetInt("size", 1024);
        var requests = arguments.GetInt("requests", 20_000);
        var concurrency = arguments.GetInt("concurrency", 32);
        var backups = arguments.GetInt("backups", 1);
        var report = new BenchReport();
        report.Notes.Add($"{Nodes} nodes in one process over the in-memory transport (no loss), {sessions} sessions of one {size}-byte attribute created round-robin on the nodes, then {requests} exclusive requests (find + lock, change the attribute, commit) on random sessions at random nodes, {concurrency} in flight; ReplicationAcks = 1; ring with {backups} backup(s).");
        report.Notes.Add("Memory: sessions and attribute bytes held per node (the table), and the process's managed heap after a full GC divided by the node count (all nodes share one process).");
        report.Notes.Add("Latency = the request as the application sees it (BeginRequest + EndRequest), Stopwatch; 'owner' requests land on the session's acting owner (sticky), 'elsewhere' on any other node.");

        var replicated = await MeasureAsync(report, "replicated", (c, o) => new ReplicatedClusterStore(c, o), sessions, size, requests, concurrency, cancellationToken);
        var ring = await MeasureAsync(report, "ring", (c, o) => { o.Backups = backups; return new RingClusterStore(c, o); }, sessions, size, requests, concurrency, cancellationToken);

        report.Ratios["ring_vs_replicated_sessions_per_node"] = ring.Figures["sessions_per_node_avg"] / replicated.Figures["sessions_per_node_avg"];
        report.Ratios["ring_vs_replicated_heap_per_node"] = ring.Figures["heap_mb_per_node"] / replicated.Figures["heap_mb_per_node"];
        report.Ratios["ring_vs_replicated_commit_p50"] = ring.Figures["request_p50_ms"] / replicated.Figures["request_p50_ms"];
        report.Ratios["ring_vs_replicated_commit_p99"] = ring.Figures["request_p99_ms"] / replicated.Figures["request_p99_ms"];
        report.Ratios["ring_vs_replicated_requests_per_s"] = ring.Figures["requests_per_s"] / replicated.Figures["requests_per_s"];
        return report;
    }

    private static async Task<BenchResult> MeasureAsync(BenchReport report, string name, Func<IGroupChannel, ClusterStoreOptions, IClusterStore> create,
        int sessions, int size, int requests, int concurrency, CancellationToken cancellationToken)
    {
        var hub = new InMemoryHub();
        var cluster = $"bench-{Guid.NewGuid():N}";
        var managers = new List<SessionManager>();
        try
        {
            for (var i = 0; i < Nodes; i++)
            {
                // A generous suspect timeout: a full GC of a multi-gigabyte heap on two cores must not look like a crash.
                var channel = new ReliableGroupChannel(hub.CreateTransport(), new GroupChannelOptions { ClusterId = cluster, NodeId = $"bench{i + 1}", SuspectTimeout = TimeSpan.FromSeconds(60) });
                var store = create(channel, new ClusterStoreOptions { NodeId = $"bench{i + 1}", ReplicationAcks = 1 });
                var manager = new SessionManager(store, new SessionOptions());
                await manager.StartAsync(cancellationToken);
                managers.Add(manager);
            }
            while (managers.Any(m => ((ArbitratedClusterStore)m.Store).View.Members.Count < Nodes || !m.Store.IsReady()))
                await Task.Delay(10, cancellationToken);

            var ids = new string[sessions];
            var payload = new byte[size];
            var loadClock = Stopwatch.StartNew();
            await ForEachAsync(sessions, concurrency, async i =>
            {
                var session = await managers[i % Nodes].CreateAsync(cancellationToken);
                session.Set("data", payload);
                await managers[i % Nodes].EndRequestAsync(session, cancellationToken);
                ids[i] = session.Id;
            });
            var loadSeconds = loadClock.Elapsed.TotalSeconds;
            Console.Error.WriteLine($"{name}: {sessions} sessions created in {loadSeconds:0.0} s");
            // Let the last announcements and re-replications settle before counting copies.
            await Task.Delay(500, cancellationToken);

            var result = report.Add(name);
            result.Set("load_sessions_per_s", sessions / loadSeconds);
            var held = managers.Select(m => m.Count).ToArray();
            result.Set("sessions_per_node_avg", held.Average());
            result.Set("sessions_per_node_max", held.Max());
            result.Set("copies_per_session", held.Sum() / (double)sessions);
            result.Set("attribute_mb_per_node_avg", managers.Average(m => m.Table.Sum(r => (double)r.Size)) / 1e6);
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            result.Set("heap_mb_per_node", GC.GetTotalMemory(forceFullCollection: true) / 1e6 / Nodes);

            var all = new Latencies(requests);
            var sticky = new Latencies(requests);
            var elsewhere = new Latencies(requests);
            var random = new Random(7);
            var plan = Enumerable.Range(0, requests).Select(_ => (Id: ids[random.Next(sessions)], Node: random.Next(Nodes))).ToArray();
            var next = new byte[size];
            var clock = Stopwatch.StartNew();
            await ForEachAsync(requests, concurrency, async i =>
            {
                var (id, node) = plan[i];
                var manager = managers[node];
                var owner = ReplicationStrategy.ArbiterOf(id, ((ArbitratedClusterStore)manager.Store).View)?.NodeId == manager.Store.InstanceId;
                var started = Stopwatch.GetTimestamp();
                var session = await manager.BeginRequestAsync(id, SessionAccess.Exclusive, cancellationToken)
                    ?? throw new InvalidOperationException($"session {id} is missing on {manager.Store.InstanceId}");
                session.Set("data", next);
                await manager.EndRequestAsync(session, cancellationToken);
                var ticks = Stopwatch.GetTimestamp() - started;
                all.Add(ticks);
                (owner ? sticky : elsewhere).Add(ticks);
            });
            result.Set("requests_per_s", requests / clock.Elapsed.TotalSeconds);
            result.Set("request_p50_ms", all.PercentileMs(50));
            result.Set("request_p99_ms", all.PercentileMs(99));
            sticky.Report(result, "owner_");
            elsewhere.Report(result, "elsewhere_");
            return result;
        }
        finally
        {
            foreach (var manager in managers)
                await manager.DisposeAsync();
        }
    }

    /// <summary>Runs <paramref name="count"/> operations with at most <paramref name="concurrency"/> in flight; a failure stops the run.</summary>
    private static Task ForEachAsync(int count, int concurrency, Func<int, Task> operation)
    {
        var next = -1;
        return Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
                await operation(i);
        }));
    }
}
