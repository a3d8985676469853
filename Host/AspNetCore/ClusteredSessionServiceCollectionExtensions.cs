using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Multicast.AspNetCore;

/// <summary>Registers the clustered session: the node (a hosted service), its store and manager, its health check
/// and the middleware's services.</summary>
public static class ClusteredSessionServiceCollectionExtensions
{
    /// <summary>
    /// Adds the clustered session. Pick the transport and store on the returned builder; then call
    /// <see cref="ClusteredSessionApplicationBuilderExtensions.UseClusteredSession"/> after routing.
    /// Options are validated when the host starts.
    /// </summary>
    public static ClusteredSessionBuilder AddClusteredSession(this IServiceCollection services, Action<ClusteredSessionOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<ClusteredSessionOptions>();
        if (configure is not null)
            options.Configure(configure);
        // One node id and public address for the channel and the store: the cluster options'.
        options.PostConfigure(o =>
        {
            o.Channel.NodeId = o.Cluster.NodeId;
            o.Channel.PublicAddress = o.Cluster.PublicAddress;
        });
        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ClusteredSessionOptions>, ClusteredSessionOptionsValidator>());
        services.AddOptions<ClusterComposition>();
        services.AddMetrics();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ClusterMetrics>();
        services.TryAddSingleton<ClusterNode>();
        // The node's manager and store, for endpoints and services that want them (a custom manager: UseManager).
        services.TryAddSingleton(static sp => sp.GetRequiredService<ClusterNode>().Manager);
        services.TryAddSingleton(static sp => sp.GetRequiredService<ClusterNode>().Store);
        services.TryAddSingleton<ClusterHealthCheck>();
        services.AddHealthChecks();
        services.Configure<HealthCheckServiceOptions>(o =>
        {
            if (!o.Registrations.Any(r => r.Name == ClusteredSessionHealthChecks.Name))
            {
                o.Registrations.Add(new HealthCheckRegistration(ClusteredSessionHealthChecks.Name,
                    static sp => sp.GetRequiredService<ClusterHealthCheck>(), HealthStatus.Unhealthy, [ClusteredSessionHealthChecks.Tag]));
            }
        });
        services.AddHostedService<ClusterNodeService>();
        return new ClusteredSessionBuilder(services);
    }
}
