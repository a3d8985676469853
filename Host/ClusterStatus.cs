using System.Globalization;
using Multicast.AspNetCore;
using Multicast.Messaging;

namespace Multicast.Host;

/// <summary>The JSON of <c>GET /cluster</c>.</summary>
internal sealed record ClusterStatus(
    string NodeId,
    bool Ready,
    string Status,
    long ViewId,
    string? Coordinator,
    IReadOnlyList<ClusterStatus.MemberStatus> Members,
    int Sessions,
    string Transport,
    string Store,
    ClusterStatus.ReplicationStatus Replication,
    ClusterStatus.FigureSummary Figures,
    IReadOnlyDictionary<string, object> Counters)
{
    /// <summary>Ring indices are 16 bits: the ring has this many positions.</summary>
    private const int RingSize = 0x10000;

    public static ClusterStatus Of(ClusterNode node, ClusterMetrics metrics, HostSettings settings)
    {
        var view = node.View;
        var counters = metrics.Snapshot();
        var acks = node.Options.Cluster.ReplicationAcks;
        var window = metrics.CommitWindow;
        return new ClusterStatus(
            node.NodeId,
            node.IsReady,
            node.Store.Status.ToString(),
            view.Id,
            view.Members.Count > 0 ? view.Coordinator.NodeId : null,
            MembersOf(view),
            node.Manager.Count,
            settings.Transport.ToString(),
            settings.Store.ToString(),
            new ReplicationStatus(
                acks,
                Math.Min(acks, Math.Max(0, view.Members.Count - 1)),
                Value(counters, "multicast.commits"),
                Value(counters, "multicast.commit.failures"),
                counters.TryGetValue("multicast.commit.duration", out var d) ? d : null,
                window.Percentile(0.50),
                window.Percentile(0.99),
                window.Count),
            new FigureSummary(
                Value(counters, "multicast.channel.retransmissions"),
                Value(counters, "multicast.channel.naks_sent"),
                Value(counters, "multicast.transport.send_errors") + Value(counters, "multicast.channel.send_errors"),
                counters.Where(c => c.Key.StartsWith("multicast.channel.rejected_", StringComparison.Ordinal)).Sum(c => c.Value is double v ? v : 0)
                    + Value(counters, "multicast.channel.unknown_sender"),
                Value(counters, "multicast.store.lock_waits"),
                Value(counters, "multicast.lock.conflicts") + Value(counters, "multicast.store.lock_conflicts")),
            counters);
    }

    /// <summary>The members in view order, each with the ring positions it arbitrates: from just after the previous
    /// member's ring index up to its own (the first one in ring order also takes the wrap-around).</summary>
    internal static IReadOnlyList<MemberStatus> MembersOf(MembershipView view)
    {
        var ring = view.RingOrder;
        var ranges = new Dictionary<string, (string Range, double Share)>(StringComparer.Ordinal);
        for (var i = 0; i < ring.Count; i++)
        {
            var from = i == 0 ? ring[^1].RingIndex + 1 : ring[i - 1].RingIndex + 1;
            var to = ring[i].RingIndex;
            var size = ring.Count == 1 ? RingSize : ((to - from + RingSize) % RingSize) + 1;
            var range = ring.Count == 1 ? "0000-ffff" : $"{from % RingSize:x4}-{to:x4}";
            ranges[ring[i].NodeId] = (range, Math.Round(size / (double)RingSize, 4));
        }
        return [.. view.Members.Select(m => new MemberStatus(
            m.NodeId, m.Incarnation, m.Address, m.PublicAddress, m.RingIndex,
            m.RingIndex.ToString("x4", CultureInfo.InvariantCulture), ranges[m.NodeId].Range, ranges[m.NodeId].Share))];
    }

    private static double Value(IReadOnlyDictionary<string, object> counters, string name) =>
        counters.TryGetValue(name, out var v) && v is double d ? d : 0;

    /// <summary>One member of the view. <paramref name="RingRange"/>: the ring positions (hex, inclusive, may wrap) whose
    /// sessions it arbitrates; <paramref name="RingShare"/>: their fraction of the ring.</summary>
    internal sealed record MemberStatus(string NodeId, long Incarnation, string Address, string PublicAddress, int RingIndex,
        string RingPosition, string RingRange, double RingShare);

    /// <summary>The write concern and what commits cost (the commit duration includes the wait for acks);
    /// percentiles over the last minute (<see cref="LatencyWindow"/>).</summary>
    internal sealed record ReplicationStatus(int Acks, int EffectiveAcks, double Commits, double CommitFailures, object? CommitDurationMs,
        double? CommitP50Ms, double? CommitP99Ms, long CommitsLastMinute);

    /// <summary>The figures an operator watches: packets repaired, NAKs sent, datagrams dropped at send, datagrams
    /// rejected on receipt (malformed, forged, replayed, oversize, foreign cluster, unknown sender), lock waits, lock conflicts.</summary>
    internal sealed record FigureSummary(double Repairs, double Naks, double Drops, double Rejected, double LockWaits, double LockConflicts);
}
