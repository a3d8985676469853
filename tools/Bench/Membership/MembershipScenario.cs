using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Multicast.Messaging;
using Multicast.Messaging.Internal;
using Multicast.Transports.InMemory;

namespace Multicast.Bench.Membership;

/// <summary>
/// How membership grows with the group: for each size, every member in one process over the in-memory transport
/// (no loss unless asked), the time for all to join, the time and the datagrams of one view change (a member joins)
/// and of one leave, and the heartbeat traffic of an idle group.
/// </summary>
internal sealed class MembershipScenario : IBenchScenario
{
    public string Name => "membership";

    public string Description => "view changes vs group size: join all, one join, one leave, heartbeats (in-memory, one process) [--members 8,16,32,64,128 --loss P --idle-seconds S]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var sizes = (arguments.Get("members") ?? "8,16,32,64,128").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var loss = arguments.GetDouble("loss", 0);
        var idle = TimeSpan.FromSeconds(arguments.GetDouble("idle-seconds", 3));
        var report = new BenchReport();
        report.Notes.Add($"Every member is a ReliableGroupChannel in this process over the in-memory hub (loss {loss:P0}), default timers (heartbeat 500 ms, suspect 3 s, join retry 100 ms) except JoinTimeout 300 ms.");
        report.Notes.Add("join_all_ms: the first member forms the group, then all others start at once; until every member installed one view of all. " +
            "view_change_*: one more member joins (from its StartAsync call until every member installed the view with it; _median_ms: until half of them had, _joiner_ms: until the joiner had); leave_*: it leaves (LeaveAsync until every member installed the view without it).");
        report.Notes.Add("Datagrams are counted as sent (a group send is one datagram, the hub copies it to every member); *_membership counts View, ViewAck, Join, Leave and StreamStart, *_all every kind in the window (heartbeats included). heartbeats_sent_per_s / received_per_s: an idle group, " + idle.TotalSeconds.ToString(CultureInfo.InvariantCulture) + " s.");

        BenchResult? first = null;
        BenchResult? last = null;
        foreach (var n in sizes)
        {
            var result = await MeasureAsync(report, n, loss, idle, cancellationToken);
            first ??= result;
            last = result;
        }
        if (first is not null && last is not null && last != first)
        {
            var (a, b) = (first.Figures["members"], last.Figures["members"]);
            var suffix = $"{b}_vs_{a}".Replace(".", "", StringComparison.Ordinal);
            report.Ratios[$"members_{suffix}"] = b / a;
            foreach (var figure in new[] { "view_change_datagrams_membership", "leave_datagrams_membership", "view_change_ms", "leave_ms", "join_all_ms", "heartbeats_sent_per_s", "heartbeats_received_per_s" })
                report.Ratios[$"{figure}_{suffix}"] = last.Figures[figure] / Math.Max(first.Figures[figure], 1e-9);
        }
        return report;
    }

    private static async Task<BenchResult> MeasureAsync(BenchReport report, int n, double loss, TimeSpan idle, CancellationToken cancellationToken)
    {
        var hub = new InMemoryHub(seed: n) { DropProbability = loss };
        var counts = new ConcurrentDictionary<PacketKind, long>();
        hub.Tap = (_, _, bytes) =>
        {
            if (bytes.Length > 3)
                counts.AddOrUpdate((PacketKind)bytes[3], 1, (_, c) => c + 1);
        };
        var cluster = $"membership-{n}-{Guid.NewGuid():N}";
        var nodes = new List<(ReliableGroupChannel Channel, ViewClock Clock)>();
        try
        {
            async Task<(ReliableGroupChannel, ViewClock)> Start(string id)
            {
                var channel = new ReliableGroupChannel(hub.CreateTransport(), new GroupChannelOptions
                {
                    ClusterId = cluster,
                    NodeId = id,
                    JoinTimeout = TimeSpan.FromMilliseconds(300),
                    // One process with up to 129 receive threads on a small machine: starvation is not death.
                    SuspectTimeout = TimeSpan.FromSeconds(30),
                });
                var clock = new ViewClock();
                lock (nodes)
                    nodes.Add((channel, clock));
                await channel.StartAsync(clock, cancellationToken);
                return (channel, clock);
            }

            await Start("m0");
            var joinAll = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(1, n - 1).Select(i => Start($"m{i}")));
            await UntilAsync(() => OneView(nodes, n), cancellationToken);
            var joinAllMs = joinAll.Elapsed.TotalMilliseconds;
            await Task.Delay(500, cancellationToken); // the last confirmations and stream starts settle

            // One view change: a member joins.
            var before = Snapshot(counts);
            var started = Stopwatch.GetTimestamp();
            var (joiner, _) = await Start("joiner");
            var joinedId = joiner.View.Id;
            await UntilAsync(() => nodes.All(x => x.Clock.InstalledAt(joinedId) != 0), cancellationToken);
            var installs = nodes.Select(x => Stopwatch.GetElapsedTime(started, x.Clock.InstalledAt(joinedId)).TotalMilliseconds).Order().ToArray();
            var viewChangeMs = installs[^1];
            var viewChangeMedianMs = installs[installs.Length / 2];
            var joinerMs = Stopwatch.GetElapsedTime(started, nodes.First(x => x.Channel == joiner).Clock.InstalledAt(joinedId)).TotalMilliseconds;
            await Task.Delay(300, cancellationToken); // confirmations after the last install
            var joinCounts = Delta(before, counts);

            // One leave.
            before = Snapshot(counts);
            started = Stopwatch.GetTimestamp();
            var remaining = nodes.Where(x => x.Channel != joiner).ToArray();
            await joiner.LeaveAsync(cancellationToken);
            await UntilAsync(() => remaining.All(x => x.Channel.View.Members.Count == n && x.Channel.View.Id > joinedId), cancellationToken);
            var leftId = remaining[0].Channel.View.Id;
            await UntilAsync(() => remaining.All(x => x.Clock.InstalledAt(leftId) != 0), cancellationToken);
            var leaveMs = Stopwatch.GetElapsedTime(started, remaining.Max(x => x.Clock.InstalledAt(leftId))).TotalMilliseconds;
            await Task.Delay(300, cancellationToken);
            var leaveCounts = Delta(before, counts);

            // Heartbeats of an idle group.
            await Task.Delay(500, cancellationToken);
            before = Snapshot(counts);
            var idleClock = Stopwatch.StartNew();
            await Task.Delay(idle, cancellationToken);
            var heartbeats = Delta(before, counts).GetValueOrDefault(PacketKind.Heartbeat) / idleClock.Elapsed.TotalSeconds;

            var result = report.Add($"{n} members");
            result.Set("members", n);
            result.Set("join_all_ms", joinAllMs);
            result.Set("view_change_ms", viewChangeMs);
            result.Set("view_change_median_ms", viewChangeMedianMs);
            result.Set("view_change_joiner_ms", joinerMs);
            result.Set("view_change_datagrams_membership", Membership(joinCounts));
            result.Set("view_change_datagrams_all", joinCounts.Values.Sum());
            result.Set("view_change_views", joinCounts.GetValueOrDefault(PacketKind.View));
            result.Set("view_change_view_acks", joinCounts.GetValueOrDefault(PacketKind.ViewAck));
            result.Set("leave_ms", leaveMs);
            result.Set("leave_datagrams_membership", Membership(leaveCounts));
            result.Set("leave_datagrams_all", leaveCounts.Values.Sum());
            result.Set("heartbeats_sent_per_s", heartbeats);
            result.Set("heartbeats_received_per_s", heartbeats * (n - 1));
            result.Set("view_bytes", ViewCodec.EncodeView(remaining[0].Channel.View).Length);
            Console.Error.WriteLine($"{n} members: join all {joinAllMs:0} ms, view change {viewChangeMs:0.0} ms (median member {viewChangeMedianMs:0.0}, joiner {joinerMs:0.0}) / {Membership(joinCounts)} datagrams ({joinCounts.GetValueOrDefault(PacketKind.View)} views, {joinCounts.Values.Sum()} all), leave {leaveMs:0.0} ms / {Membership(leaveCounts)} datagrams, heartbeats {heartbeats:0}/s");
            return result;
        }
        finally
        {
            hub.Tap = null;
            await Task.WhenAll(nodes.Select(x => x.Channel.DisposeAsync().AsTask()));
        }
    }

    private static long Membership(Dictionary<PacketKind, long> counts) =>
        counts.GetValueOrDefault(PacketKind.View) + counts.GetValueOrDefault(PacketKind.ViewAck) + counts.GetValueOrDefault(PacketKind.Join)
        + counts.GetValueOrDefault(PacketKind.Leave) + counts.GetValueOrDefault(PacketKind.StreamStart);

    private static Dictionary<PacketKind, long> Snapshot(ConcurrentDictionary<PacketKind, long> counts) => counts.ToDictionary(p => p.Key, p => p.Value);

    private static Dictionary<PacketKind, long> Delta(Dictionary<PacketKind, long> before, ConcurrentDictionary<PacketKind, long> now) =>
        now.ToDictionary(p => p.Key, p => p.Value - before.GetValueOrDefault(p.Key));

    private static bool OneView(List<(ReliableGroupChannel Channel, ViewClock Clock)> nodes, int n)
    {
        lock (nodes)
            return nodes.Count == n && nodes.All(x => x.Channel.View.Members.Count == n && x.Channel.View.Id == nodes[0].Channel.View.Id);
    }

    private static async Task UntilAsync(Func<bool> condition, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(2))
                throw new TimeoutException("The group did not converge within 2 minutes.");
            await Task.Delay(1, cancellationToken);
        }
    }

    /// <summary>Records when each view was installed (on the receive thread, as the handler is told).</summary>
    private sealed class ViewClock : GroupHandler
    {
        private readonly ConcurrentDictionary<long, long> _installed = new();

        public long InstalledAt(long viewId) => _installed.GetValueOrDefault(viewId);

        public override void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast)
        {
        }

        public override void OnViewChanged(MembershipView view) => _installed.TryAdd(view.Id, Stopwatch.GetTimestamp());
    }
}
