using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Transport;
using Multicast.Transports.InMemory;
using Multicast.Transports.Udp;

namespace Multicast.AspNetCore;

/// <summary>
/// Returned by <see cref="ClusteredSessionServiceCollectionExtensions.AddClusteredSession"/>: plugs in the
/// transport (UDP multicast, in-memory; ZeroMQ through <c>UseZeroMq</c>, an extension from the transports assembly)
/// and the cluster store. The last call of each kind wins.
/// </summary>
public sealed class ClusteredSessionBuilder : ITransportBuilder
{
    internal ClusteredSessionBuilder(IServiceCollection services)
    {
        Services = services;
    }

    /// <summary>The application's services.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Uses UDP multicast (the default group and port on loopback unless <paramref name="configure"/> changes them).
    /// The options are validated when the node is built.
    /// </summary>
    public ClusteredSessionBuilder UseUdpMulticast(Action<UdpTransportOptions>? configure = null)
    {
        var options = new UdpTransportOptions();
        configure?.Invoke(options);
        return UseUdpMulticast(options);
    }

    /// <summary>Uses UDP multicast with <paramref name="options"/> (e.g. bound from configuration section
    /// <c>Cluster:Udp</c>), validated now.</summary>
    public ClusteredSessionBuilder UseUdpMulticast(UdpTransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return UseTransport(services => new UdpMulticastTransport(options, services.GetRequiredService<ILogger<UdpMulticastTransport>>()));
    }

    /// <summary>
    /// Uses the in-memory transport: every node of the process that shares <paramref name="hub"/> is in one
    /// cluster (tests, with the hub's fault injection).
    /// </summary>
    public ClusteredSessionBuilder UseInMemory(InMemoryHub hub)
    {
        ArgumentNullException.ThrowIfNull(hub);
        return UseTransport(_ => hub.CreateTransport());
    }

    /// <summary>Uses a transport built by <paramref name="factory"/> under the reliable group channel.</summary>
    public ClusteredSessionBuilder UseTransport(Func<IServiceProvider, ITransport> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Services.Configure<ClusterComposition>(c => c.Transport = factory);
        return this;
    }

    /// <inheritdoc />
    ITransportBuilder ITransportBuilder.UseTransport(Func<IServiceProvider, ITransport> factory) => UseTransport(factory);

    /// <summary>Every node holds every session (<see cref="ReplicatedClusterStore"/>). The default.</summary>
    public ClusteredSessionBuilder UseReplicatedStore()
    {
        Services.Configure<ClusterComposition>(c =>
        {
            c.CustomStore = null;
            c.Store = static (services, channel) => new ReplicatedClusterStore(
                channel,
                services.GetRequiredService<IOptions<ClusteredSessionOptions>>().Value.Cluster,
                services.GetRequiredService<TimeProvider>(),
                services.GetRequiredService<ILoggerFactory>().CreateLogger<ReplicatedClusterStore>());
        });
        return this;
    }

    /// <summary>
    /// Each session on its owner and <see cref="ClusterStoreOptions.Backups"/> next nodes in ring order
    /// (<see cref="RingClusterStore"/>), optionally with a disk copy (<see cref="ClusterStoreOptions.DataDirectory"/>).
    /// </summary>
    public ClusteredSessionBuilder UseRingStore()
    {
        Services.Configure<ClusterComposition>(c =>
        {
            c.CustomStore = null;
            c.Store = static (services, channel) => new RingClusterStore(
                channel,
                services.GetRequiredService<IOptions<ClusteredSessionOptions>>().Value.Cluster,
                services.GetRequiredService<TimeProvider>(),
                services.GetRequiredService<ILoggerFactory>().CreateLogger<RingClusterStore>());
        });
        return this;
    }

    /// <summary>Uses a store over the reliable group channel built by <paramref name="factory"/>.</summary>
    public ClusteredSessionBuilder UseStore(Func<IServiceProvider, IGroupChannel, IClusterStore> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Services.Configure<ClusterComposition>(c =>
        {
            c.CustomStore = null;
            c.Store = factory;
        });
        return this;
    }

    /// <summary>
    /// Uses a complete cluster store of the application's own, built by <paramref name="factory"/>; the
    /// transport and the channel are then not used. The store is disposed with the node.
    /// </summary>
    public ClusteredSessionBuilder UseStore(Func<IServiceProvider, IClusterStore> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Services.Configure<ClusterComposition>(c => c.CustomStore = factory);
        return this;
    }

    /// <summary>
    /// Runs the requests through <typeparamref name="TManager"/>, a <see cref="SessionManager"/> of the application's own
    /// (the distributed manager: every step of the request lifecycle and every event is virtual). It is built once per
    /// node with the node's store and <see cref="ClusteredSessionOptions.Session"/> as constructor arguments, its other
    /// constructor parameters (a <see cref="TimeProvider"/>, an <c>ILogger&lt;TManager&gt;</c>, the application's
    /// services) from dependency injection; it is registered as <typeparamref name="TManager"/> and
    /// <see cref="SessionManager"/>.
    /// </summary>
    public ClusteredSessionBuilder UseManager<TManager>()
        where TManager : SessionManager
    {
        UseManager(static (services, store) => ActivatorUtilities.CreateInstance<TManager>(
            services, store, services.GetRequiredService<IOptions<ClusteredSessionOptions>>().Value.Session));
        Services.TryAddSingleton(static services => (TManager)services.GetRequiredService<ClusterNode>().Manager);
        return this;
    }

    /// <summary>Runs the requests through the <see cref="SessionManager"/> that <paramref name="factory"/> builds over
    /// the node's store (once per node).</summary>
    public ClusteredSessionBuilder UseManager(Func<IServiceProvider, IClusterStore, SessionManager> factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Services.Configure<ClusterComposition>(c => c.Manager = factory);
        return this;
    }
}
