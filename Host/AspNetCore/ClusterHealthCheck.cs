using Microsoft.Extensions.Diagnostics.HealthChecks;
using Multicast.Sessions;

namespace Multicast.AspNetCore;

/// <summary>
/// The node's health, as <see cref="IClusterStore.Status"/> reports it: <see cref="HealthStatus.Healthy"/> when joined
/// and caught up, <see cref="HealthStatus.Degraded"/> when the write concern cannot currently be met (commits complete
/// with the acknowledgements the remaining members can give), <see cref="HealthStatus.Unhealthy"/> while joining,
/// leaving, without quorum, or after a failed join. Registered by
/// <see cref="ClusteredSessionServiceCollectionExtensions.AddClusteredSession"/> as <see cref="ClusteredSessionHealthChecks.Name"/>.
/// </summary>
internal sealed class ClusterHealthCheck(ClusterNode node) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Check());

    internal HealthCheckResult Check()
    {
        var status = node.Store.Status;
        var view = node.View;
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["status"] = status.ToString(),
            ["nodeId"] = node.NodeId,
            ["viewId"] = view.Id,
            ["members"] = view.Members.Count,
            ["sessions"] = node.Manager.Count,
        };
        if (node.Started.IsFaulted)
            return HealthCheckResult.Unhealthy("failed: the node could not join the cluster", node.Started.Exception?.GetBaseException(), data);
        if (node.Stopping)
            return HealthCheckResult.Unhealthy("leaving: the node is leaving the cluster", data: data);
        if (!node.Started.IsCompleted)
            return HealthCheckResult.Unhealthy("joining: the node is joining the cluster and catching up", data: data);
        return status switch
        {
            ClusterStoreStatus.Ready => HealthCheckResult.Healthy("ok", data),
            ClusterStoreStatus.Degraded => HealthCheckResult.Degraded(
                $"degraded: fewer members can acknowledge a commit than ReplicationAcks={node.Options.Cluster.ReplicationAcks} asks for", data: data),
            ClusterStoreStatus.NoQuorum => HealthCheckResult.Unhealthy("no quorum: this node is in a minority partition", data: data),
            ClusterStoreStatus.Leaving => HealthCheckResult.Unhealthy("leaving: the node is leaving the cluster", data: data),
            ClusterStoreStatus.Joining => HealthCheckResult.Unhealthy("joining: the node is catching up", data: data),
            _ => HealthCheckResult.Unhealthy("stopped: the node has not started", data: data),
        };
    }
}
