using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Multicast.Nemesis.Checking;
using Multicast.Nemesis.Cluster;
using Multicast.Nemesis.History;
using Multicast.Nemesis.Schedules;

namespace Multicast.Nemesis.Running;

/// <summary>
/// Runs one schedule: starts the cluster, creates the sessions, runs the clients and the faults together, heals every
/// fault, waits for the cluster to settle (ready in one view, copies converged), writes once more to every session,
/// waits again, takes each node's table and checks the history.
/// </summary>
internal static class ScheduleRunner
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    /// <param name="schedule">What to run.</param>
    /// <param name="decorate">Wraps each node's store (a test's faulty store, to prove the checker catches it).</param>
    /// <param name="loggers">The nodes' loggers.</param>
    /// <param name="cancellationToken">Abandons the run.</param>
    public static async Task<ScheduleResult> RunAsync(Schedule schedule, Func<Sessions.IClusterStore, Sessions.IClusterStore>? decorate = null,
        ILoggerFactory? loggers = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var history = new OperationHistory();
        var cluster = new NemesisCluster(schedule, () => history.Now, decorate, loggers);
        var violations = new List<Violation>();
        IReadOnlyList<NodeSnapshot> final = [];
        await using (cluster)
        {
            var checker = new HistoryChecker(schedule.Locking, schedule.Store == StoreKind.Replicated);
            try
            {
                await cluster.StartAsync(cancellationToken);
                if (!await SettleAsync(cluster, [], schedule.Timings.Settle, checker, cancellationToken))
                    return Result(schedule, [new Violation(ViolationKind.NotLive, null, "the cluster did not form before any fault", [])], history, cluster, clock);

                var workload = new Workload(schedule, cluster, history);
                await workload.SetupAsync(cancellationToken);
                var loadStart = history.Now;
                var faults = schedule.Faults.Select(f => DriveAsync(cluster, f, loadStart, history, cancellationToken)).ToList();
                await workload.RunAsync(loadStart, cancellationToken);
                await Task.WhenAll(faults);

                await cluster.HealAsync(cancellationToken);
                var ids = SessionIds(history);
                var settled = await SettleAsync(cluster, ids, schedule.Timings.Settle, checker, cancellationToken);
                if (settled)
                {
                    await workload.ProbeAsync(cancellationToken);
                    settled = await SettleAsync(cluster, SessionIds(history), schedule.Timings.Settle, checker, cancellationToken);
                }
                var ops = history.Snapshot();
                final = Snapshot(cluster, SessionIds(history));
                violations.AddRange(checker.Check(ops, final, settled, settled ? null : Describe(cluster)));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
        }
        return new ScheduleResult(schedule, violations, history.Snapshot(), final, cluster.Events, clock.Elapsed);
    }

    private static ScheduleResult Result(Schedule schedule, List<Violation> violations, OperationHistory history, NemesisCluster cluster, Stopwatch clock) =>
        new(schedule, violations, history.Snapshot(), [], cluster.Events, clock.Elapsed);

    private static async Task DriveAsync(NemesisCluster cluster, Fault fault, TimeSpan loadStart, OperationHistory history, CancellationToken cancellationToken)
    {
        await DelayUntilAsync(history, loadStart + fault.At, cancellationToken);
        await cluster.InjectAsync(fault, cancellationToken);
        await DelayUntilAsync(history, loadStart + fault.Until, cancellationToken);
        await cluster.RevertAsync(fault, cancellationToken);
    }

    private static async Task DelayUntilAsync(OperationHistory history, TimeSpan due, CancellationToken cancellationToken)
    {
        var wait = due - history.Now;
        if (wait > TimeSpan.Zero)
            await Task.Delay(wait, cancellationToken); // the schedule's timeline, not a wait for a condition
    }

    private static HashSet<string> SessionIds(OperationHistory history) =>
        [.. history.Snapshot().Select(o => o.SessionId).OfType<string>()];

    /// <summary>Polls until every node is ready in a full view and the checker finds no divergence; false at the deadline.</summary>
    private static async Task<bool> SettleAsync(NemesisCluster cluster, IReadOnlyCollection<string> ids, TimeSpan timeout, HistoryChecker checker, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (cluster.AllReady() && !Diverged(Snapshot(cluster, ids), checker))
                return true;
            if (deadline.Elapsed > timeout)
                return false;
            await Task.Delay(PollInterval, cancellationToken);
        }
    }

    private static bool Diverged(IReadOnlyList<NodeSnapshot> snapshot, HistoryChecker checker) =>
        checker.Convergence(snapshot).Count > 0;

    private static IReadOnlyList<NodeSnapshot> Snapshot(NemesisCluster cluster, IReadOnlyCollection<string> ids) =>
        [.. cluster.Nodes.Select(n =>
        {
            var store = n.Store;
            var manager = n.Manager;
            var live = n.State == NodeState.Up && store is not null && manager is not null;
            var sessions = new Dictionary<string, Sessions.SessionState>(StringComparer.Ordinal);
            var mustHold = new Dictionary<string, bool?>(StringComparer.Ordinal);
            if (live)
            {
                foreach (var id in ids)
                {
                    if (manager!.Table.TryGet(id, out var state))
                        sessions[id] = state;
                    mustHold[id] = PlacementProbe.MustHold(store!, id);
                }
            }
            return new NodeSnapshot(n.NodeId, live, store?.Status ?? Sessions.ClusterStoreStatus.Stopped, store is null ? null : NemesisCluster.ViewSize(store), sessions, mustHold);
        })];

    private static string Describe(NemesisCluster cluster) =>
        string.Join("; ", cluster.Nodes.Select(n => $"node{n.Index + 1} {n.State}" + (n.Store is { } s ? $" {s.Status} view {NemesisCluster.ViewSize(s)?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?"}" : string.Empty)));
}
