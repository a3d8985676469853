using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>
/// Every node holds every session. Each session's acting owner (its id's ring index, or the next live node
/// in ring order) arbitrates its lock and sequences its commits: a holder elsewhere sends its change to the
/// arbiter, which validates the fencing token, applies it and announces it to the group. So each session has
/// one order of versions on every node, and a reader anywhere sees whole versions without any network.
/// </summary>
/// <remarks>
/// <para>A node that becomes a session's arbiter after a view change first asks every member for its copy
/// (and the previous arbiter for the lock) before granting, so no committed version is lost when an arbiter dies.</para>
/// <para>A joining node receives every session by state transfer before it reports ready; the live updates
/// that arrive meanwhile are buffered and applied after the snapshot, in order.</para>
/// </remarks>
public sealed class ReplicatedClusterStore : IClusterStore
{
    private readonly StoreEngine _engine;

    /// <summary>Creates the store over a group channel (not yet started: <see cref="StartAsync"/> starts it).</summary>
    public ReplicatedClusterStore(IGroupChannel channel, ClusterStoreOptions options, TimeProvider? time = null, ILogger? logger = null)
    {
        _engine = new StoreEngine(channel, options, EveryNodePlacement.Instance, time, logger);
    }

    /// <inheritdoc />
    public string InstanceId => _engine.InstanceId;

    /// <inheritdoc />
    public SessionManager? Manager => _engine.Manager;

    /// <inheritdoc />
    public MembershipView View => _engine.View;

    /// <inheritdoc />
    public bool IsReady => _engine.IsReady;

    /// <summary>What the store refused, repaired and transferred.</summary>
    public StoreCounters Counters => _engine.Counters;

    internal IGroupChannel Channel => _engine.Channel;

    /// <inheritdoc />
    public Task StartAsync(SessionManager manager, CancellationToken cancellationToken = default) => _engine.StartAsync(manager, cancellationToken);

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken = default) => _engine.StopAsync(cancellationToken);

    /// <inheritdoc />
    public Task<Session> CreateAsync(CancellationToken cancellationToken = default) => _engine.CreateAsync(cancellationToken);

    /// <inheritdoc />
    public Task<Session?> FindAsync(string id, SessionAccess access, CancellationToken cancellationToken = default) => _engine.FindAsync(id, access, cancellationToken);

    /// <inheritdoc />
    public Task SendAsync(Session session, CancellationToken cancellationToken = default) => _engine.SendAsync(session, cancellationToken);

    /// <inheritdoc />
    public Task ReleaseAsync(Session session, CancellationToken cancellationToken = default) => _engine.ReleaseAsync(session, cancellationToken);

    /// <inheritdoc />
    public Task<bool> RemoveAsync(string id, SessionRemovalReason reason, CancellationToken cancellationToken = default) => _engine.RemoveAsync(id, reason, cancellationToken);

    /// <inheritdoc />
    public bool ReceiveSession(SessionUpdate update) => _engine.ReceiveSession(update);

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _engine.DisposeAsync();
}
