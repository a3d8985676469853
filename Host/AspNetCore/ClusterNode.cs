using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.AspNetCore;

/// <summary>
/// This process's node: the cluster store and the session manager over it. Started in the background by
/// <see cref="ClusterNodeService"/> so HTTP (and /health) answers while the node joins and catches up.
/// </summary>
internal sealed class ClusterNode : IAsyncDisposable
{
    private readonly ILogger<ClusterNode> _logger;
    private Task? _start;
    private int _disposed;
    private bool _stopping;

    public ClusterNode(IOptions<ClusteredSessionOptions> options, IOptions<ClusterComposition> composition,
        IServiceProvider services, TimeProvider time, ILoggerFactory loggerFactory)
    {
        Options = options.Value;
        _logger = loggerFactory.CreateLogger<ClusterNode>();
        var parts = composition.Value;
        if (parts.CustomStore is { } custom)
        {
            Store = custom(services);
        }
        else
        {
            Transport = parts.Transport?.Invoke(services)
                ?? throw new InvalidOperationException("No transport is configured: call UseUdpMulticast(), UseZeroMq() or UseInMemory() on the builder AddClusteredSession() returns.");
            Channel = new ReliableGroupChannel(Transport, Options.Channel, time, loggerFactory);
            Store = (parts.Store ?? ReplicatedStore)(services, Channel);
        }
        Manager = parts.Manager is { } manager
            ? manager(services, Store) ?? throw new InvalidOperationException("The UseManager() factory returned null.")
            : new SessionManager(Store, Options.Session, time, loggerFactory.CreateLogger<SessionManager>());
    }

    public ClusteredSessionOptions Options { get; }

    /// <summary>The transport under the channel (the channel owns it); null with a custom store.</summary>
    public Multicast.Transport.ITransport? Transport { get; }

    /// <summary>The reliable group channel under the store; null with a custom store.</summary>
    public ReliableGroupChannel? Channel { get; }

    public IClusterStore Store { get; }

    public SessionManager Manager { get; }

    public string NodeId => Store.InstanceId;

    /// <summary>Joined, caught up, and not stopping.</summary>
    public bool IsReady => _start is { IsCompletedSuccessfully: true } && Volatile.Read(ref _disposed) == 0 && !Stopping
        && Store.Status is ClusterStoreStatus.Ready or ClusterStoreStatus.Degraded;

    /// <summary>This node's membership view (empty with a custom store that has none).</summary>
    public MembershipView View => (Store as IClusterMembership)?.View ?? Channel?.View ?? NoView;

    private static readonly MembershipView NoView = new(0, []);

    public bool Stopping => Volatile.Read(ref _stopping);

    /// <summary>The start; faulted when the node could not join.</summary>
    public Task Started => _start ?? Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _start ??= StartCoreAsync(cancellationToken);
        return _start;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        Volatile.Write(ref _stopping, true);
        if (_start is null)
            return;
        try
        {
            await _start.WaitAsync(cancellationToken);
        }
        catch (Exception) when (_start.IsFaulted || _start.IsCanceled)
        {
            return; // never joined (failed, or the host stopped while joining): nothing to leave
        }
        Log.Leaving(_logger, NodeId);
        await Manager.StopAsync(cancellationToken);
        Log.Left(_logger, NodeId);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await Manager.DisposeAsync();
    }

    private static IClusterStore ReplicatedStore(IServiceProvider services, IGroupChannel channel) =>
        new ReplicatedClusterStore(
            channel,
            services.GetRequiredService<IOptions<ClusteredSessionOptions>>().Value.Cluster,
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger<ReplicatedClusterStore>());

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        await Task.Yield();
        Log.Joining(_logger, NodeId, Store.GetType().Name);
        await Manager.StartAsync(cancellationToken);
        Log.Ready(_logger, NodeId, View.Id, View.Members.Count, Manager.Count);
    }
}
