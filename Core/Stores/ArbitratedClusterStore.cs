using Multicast.Messaging;
using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>
/// The built-in cluster stores: each session's acting owner arbitrates its lock (leases, fencing tokens) and sequences
/// its commits, while its view is the primary partition. They differ in which members hold a session:
/// <see cref="ReplicatedClusterStore"/> (every member) and <see cref="RingClusterStore"/> (the owner and its backups).
/// Not for subclassing outside this library; implement <see cref="IClusterStore"/> for a store of your own.
/// </summary>
public abstract class ArbitratedClusterStore : IClusterStore, IClusterMembership
{
    private readonly StoreNode _node;

    private protected ArbitratedClusterStore(StoreNode node)
    {
        _node = node;
    }

    /// <inheritdoc />
    public string InstanceId => _node.InstanceId;

    /// <inheritdoc />
    public MembershipView View => _node.View;

    /// <inheritdoc />
    public ClusterStoreStatus Status => _node.Status;

    /// <summary>What the store refused, repaired, recovered and transferred.</summary>
    public StoreCounters Counters => _node.Counters;

    internal IGroupChannel Channel => _node.Channel;

    internal StoreNode Node => _node;

    /// <inheritdoc />
    public Task StartAsync(SessionStoreContext context, CancellationToken cancellationToken = default) => _node.StartAsync(context, cancellationToken);

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken = default) => _node.StopAsync(cancellationToken);

    /// <inheritdoc />
    public Task<Session> CreateAsync(CancellationToken cancellationToken = default) => _node.CreateAsync(cancellationToken);

    /// <inheritdoc />
    public Task<Session?> FindAsync(string id, SessionAccess access, CancellationToken cancellationToken = default) => _node.FindAsync(id, access, cancellationToken);

    /// <inheritdoc />
    public Task CommitAsync(Session session, CancellationToken cancellationToken = default) => _node.CommitAsync(session, cancellationToken);

    /// <inheritdoc />
    public Task ReleaseAsync(Session session, CancellationToken cancellationToken = default) => _node.ReleaseAsync(session, cancellationToken);

    /// <inheritdoc />
    public Task<bool> RemoveAsync(string id, SessionRemovalReason reason, CancellationToken cancellationToken = default) => _node.RemoveAsync(id, reason, cancellationToken);

    /// <summary>Whether this node holds the session in its current view (always, in the replicated store).</summary>
    internal bool MustHold(string id) => _node.MustHold(id);

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return _node.DisposeAsync();
    }
}
