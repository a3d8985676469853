namespace Multicast.AspNetCore;

/// <summary>
/// The health check <see cref="ClusteredSessionServiceCollectionExtensions.AddClusteredSession"/> registers with
/// <c>Microsoft.Extensions.Diagnostics.HealthChecks</c>, so <c>app.MapHealthChecks("/healthz")</c> and Kubernetes
/// probes include the node: Healthy when joined and caught up, Degraded when the write concern cannot currently be
/// met, Unhealthy while joining or leaving and without quorum.
/// </summary>
public static class ClusteredSessionHealthChecks
{
    /// <summary>The registration's name.</summary>
    public const string Name = "multicast";

    /// <summary>The registration's tag, for a readiness probe that filters on it
    /// (<c>Predicate = r =&gt; r.Tags.Contains(ClusteredSessionHealthChecks.Tag)</c>).</summary>
    public const string Tag = "multicast";
}
