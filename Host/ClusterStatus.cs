using Multicast.AspNetCore;

namespace Multicast.Host;

/// <summary>The JSON of <c>GET /cluster</c>.</summary>
internal sealed record ClusterStatus(
    string NodeId,
    bool Ready,
    long ViewId,
    string? Coordinator,
    IReadOnlyList<ClusterStatus.MemberStatus> Members,
    int Sessions,
    string Transport,
    string Store,
    ClusterStatus.ReplicationStatus Replication,
    IReadOnlyDictionary<string, object> Counters)
{
    public static ClusterStatus Of(ClusterNode node, ClusterMetrics metrics, HostSettings settings)
    {
        var view = node.View;
        var counters = metrics.Snapshot();
        var acks = node.Options.Cluster.ReplicationAcks;
        return new ClusterStatus(
            node.NodeId,
            node.IsReady,
            view.Id,
            view.Members.Count > 0 ? view.Coordinator.NodeId : null,
            [.. view.Members.Select(m => new MemberStatus(m.NodeId, m.Incarnation, m.Address, m.PublicAddress, m.RingIndex))],
            node.Manager.Count,
            settings.Transport.ToString(),
            settings.Store.ToString(),
            new ReplicationStatus(
                acks,
                Math.Min(acks, Math.Max(0, view.Members.Count - 1)),
                Value(counters, "multicast.commits"),
                Value(counters, "multicast.commit.failures"),
                counters.TryGetValue("multicast.commit.duration", out var d) ? d : null),
            counters);
    }

    private static double Value(IReadOnlyDictionary<string, object> counters, string name) =>
        counters.TryGetValue(name, out var v) && v is double d ? d : 0;

    /// <summary>One member of the view.</summary>
    internal sealed record MemberStatus(string NodeId, long Incarnation, string Address, string PublicAddress, int RingIndex);

    /// <summary>The write concern and what commits cost (the commit duration includes the wait for acks).</summary>
    internal sealed record ReplicationStatus(int Acks, int EffectiveAcks, double Commits, double CommitFailures, object? CommitDurationMs);
}
