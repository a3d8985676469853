using Microsoft.Extensions.DependencyInjection;
using Multicast.Stores;
using Multicast.Transport;

namespace Multicast.AspNetCore;

/// <summary>
/// Returned by <see cref="ClusteredSessionServiceCollectionExtensions.AddClusteredSession"/>: plugs in the
/// transport (UDP multicast, ZeroMQ, in-memory) and the cluster store. The last call of each kind wins.
/// </summary>
public sealed class ClusteredSessionBuilder
{
    internal ClusteredSessionBuilder(IServiceCollection services)
    {
        Services = services;
    }

    /// <summary>The application's services.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Uses a transport built by <paramref name="factory"/> under the configured store.</summary>
    public ClusteredSessionBuilder UseTransport(Func<IServiceProvider, ITransport> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Services.Configure<ClusterComposition>(c => c.Transport = factory);
        return this;
    }

    /// <summary>
    /// Uses a cluster store built by <paramref name="factory"/> instead of the built-in ones; the transport
    /// setting is then ignored. The store is disposed with the node.
    /// </summary>
    public ClusteredSessionBuilder UseStore(Func<IServiceProvider, IClusterStore> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Services.Configure<ClusterComposition>(c => c.Store = factory);
        return this;
    }
}
