using Multicast.Messaging;
using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>
/// The built-in cluster stores: each session's acting owner arbitrates its lock (leases, fencing tokens) and
/// sequences its commits; a new arbiter recovers the newest copy and the lock before it grants. The stores
/// differ in which members hold a session: <see cref="ReplicatedClusterStore"/> (every member) and
/// <see cref="RingClusterStore"/> (the owner and its backups). Not for subclassing outside this library.
/// </summary>
public abstract class ArbitratedClusterStore : IClusterStore, IClusterMembership
{
    private readonly StoreEngine _engine;

    private protected ArbitratedClusterStore(StoreEngine engine)
    {
        _engine = engine;
    }

    /// <inheritdoc />
    public string InstanceId => _engine.InstanceId;

    /// <inheritdoc />
    public MembershipView View => _engine.View;

    /// <inheritdoc />
    public ClusterStoreStatus Status => _engine.Status;

    /// <summary>What the store refused, repaired, transferred (and, for the ring, re-replicated, dropped and loaded from disk).</summary>
    public StoreCounters Counters => _engine.Counters;

    internal IGroupChannel Channel => _engine.Channel;

    /// <summary>Whether this node must hold the session in the current view (always, in the replicated store).</summary>
    internal bool MustHold(string id) => _engine.MustHold(id);

    /// <inheritdoc />
    public Task StartAsync(SessionStoreContext context, CancellationToken cancellationToken = default) => _engine.StartAsync(context, cancellationToken);

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken = default) => _engine.StopAsync(cancellationToken);

    /// <inheritdoc />
    public Task<Session> CreateAsync(CancellationToken cancellationToken = default) => _engine.CreateAsync(cancellationToken);

    /// <inheritdoc />
    public Task<Session?> FindAsync(string id, SessionAccess access, CancellationToken cancellationToken = default) => _engine.FindAsync(id, access, cancellationToken);

    /// <inheritdoc />
    public Task CommitAsync(Session session, CancellationToken cancellationToken = default) => _engine.CommitAsync(session, cancellationToken);

    /// <inheritdoc />
    public Task ReleaseAsync(Session session, CancellationToken cancellationToken = default) => _engine.ReleaseAsync(session, cancellationToken);

    /// <inheritdoc />
    public Task<bool> RemoveAsync(string id, SessionRemovalReason reason, CancellationToken cancellationToken = default) => _engine.RemoveAsync(id, reason, cancellationToken);

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return _engine.DisposeAsync();
    }
}
