using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>
/// Each session lives on its owner (the ring index its id carries, or the next live node in ring order) and
/// on the next <see cref="ClusterStoreOptions.Backups"/> live nodes in ring order, so a node holds about
/// sessions × (1 + backups) / nodes. The owner arbitrates the session's lock and sequences its commits, as in
/// <see cref="ReplicatedClusterStore"/>, and sends each commit to the backups by reliable unicast; the write
/// concern counts backups that acknowledged holding it.
/// </summary>
/// <remarks>
/// <para>On the owner a request costs no network (sticky). Elsewhere an exclusive request receives the session
/// with its lock grant and stores its change back through the owner; a read-only request asks the owner.</para>
/// <para>When the owner leaves, its first backup is the acting owner: it recovers the newest copy and the
/// locks, keeps serving, and pushes full copies to the node that became a backup. A node drops a copy it no
/// longer must hold once the acting owner confirms it holds it. A returning owner takes its sessions back
/// once it has received them (it reports ready only then).</para>
/// <para>With <see cref="ClusterStoreOptions.DataDirectory"/> each node keeps a disk copy of what it holds
/// (checksummed files; corrupt ones are skipped and counted); with <see cref="ClusterStoreOptions.DurableCommits"/>
/// a commit completes only once it is on the owner's and the acknowledging backups' disks. On restart a node
/// takes, per session, the newest of its disk copy and its peers' copies.</para>
/// </remarks>
public sealed class RingClusterStore : IClusterStore
{
    private readonly StoreEngine _engine;

    /// <summary>Creates the store over a group channel (not yet started: <see cref="StartAsync"/> starts it).</summary>
    public RingClusterStore(IGroupChannel channel, ClusterStoreOptions options, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _engine = new StoreEngine(channel, options, new RingPlacement(options.Backups), time, logger);
    }

    /// <inheritdoc />
    public string InstanceId => _engine.InstanceId;

    /// <inheritdoc />
    public SessionManager? Manager => _engine.Manager;

    /// <inheritdoc />
    public MembershipView View => _engine.View;

    /// <inheritdoc />
    public bool IsReady => _engine.IsReady;

    /// <summary>What the store refused, repaired, re-replicated, dropped and loaded from disk.</summary>
    public StoreCounters Counters => _engine.Counters;

    internal IGroupChannel Channel => _engine.Channel;

    /// <summary>Whether this node must hold the session in the current view (its acting owner or a backup).</summary>
    internal bool MustHold(string id) => _engine.MustHold(id);

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
