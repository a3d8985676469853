namespace Multicast.Sessions;

/// <summary>
/// Where a <see cref="SessionManager"/> keeps its sessions when the application is distributed: the cluster's
/// shared session state and the session locks. Implement it to plug in a store of your own; the manager, the
/// ASP.NET Core integration and the contract test suite use nothing else.
/// </summary>
/// <remarks>
/// <para><b>Atomicity.</b> A commit (<see cref="CommitAsync"/>) is applied as a whole or not at all, on every node:
/// readers see the version before or the version after, never a mix. Updates to one session are applied on every
/// node in version order.</para>
/// <para><b>Locks.</b> <see cref="FindAsync"/> with <see cref="SessionAccess.Exclusive"/> returns the session locked
/// for this instance (<see cref="Session.Lock"/>); the lock is released by <see cref="CommitAsync"/> or
/// <see cref="ReleaseAsync"/>, when its lease ends, or at once when its holder leaves the cluster. Each grant carries a
/// fencing token larger than any before it for that session: a commit under a token that is no longer current is
/// refused with <see cref="LockLostException"/> and changes nothing.</para>
/// <para><b>Answers mean what they say.</b> When <see cref="CommitAsync"/> returns, the change is applied and held by
/// the store's write concern. When it throws <see cref="SessionTooLargeException"/>, <see cref="LockLostException"/>,
/// <see cref="SessionLockedException"/> or <see cref="ClusterUnavailableException"/>, nothing was applied, so a
/// caller may retry without applying a change twice. The only ambiguous outcome is the death of this node.</para>
/// <para><b>Threads.</b> Every method may be called from any thread, concurrently, for different sessions. A store
/// applies its peers' updates to <see cref="SessionStoreContext.Table"/> itself (for a networked store, on its receive
/// thread), so a change is in place on every node before the next request for it can arrive there.</para>
/// </remarks>
public interface IClusterStore : IAsyncDisposable
{
    /// <summary>This instance's id: the owner of the locks it takes (the node id).</summary>
    string InstanceId { get; }

    /// <summary>Where the store is in its life, and whether it can serve.</summary>
    ClusterStoreStatus Status { get; }

    /// <summary>Joins the cluster and receives the sessions this node must hold; completes once
    /// <see cref="Status"/> is <see cref="ClusterStoreStatus.Ready"/> (or <see cref="ClusterStoreStatus.Degraded"/>).</summary>
    /// <param name="context">The session table this store keeps up to date, the session options, the clock and the
    /// events it raises; given by the manager.</param>
    /// <param name="cancellationToken">Stops waiting for the join.</param>
    /// <exception cref="InvalidOperationException">The store was started already.</exception>
    Task StartAsync(SessionStoreContext context, CancellationToken cancellationToken = default);

    /// <summary>Leaves the cluster gracefully: stops taking new requests, finishes the commits in flight, hands off what
    /// this node owns, leaves. Idempotent.</summary>
    Task StopAsync(CancellationToken cancellationToken = default);

    /// <summary>Creates a session owned by this node, locked exclusively for this instance. It reaches the cluster with
    /// its first <see cref="CommitAsync"/>.</summary>
    /// <exception cref="ClusterUnavailableException">This node cannot take writes now (no quorum, not caught up).</exception>
    Task<Session> CreateAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// An up-to-date copy of the session (at least the last version committed anywhere in the cluster), locked for this
    /// instance as <paramref name="access"/> asks, or <see langword="null"/> when it does not exist, has expired or was
    /// removed.
    /// </summary>
    /// <exception cref="SessionLockedException">Another instance holds the lock and the conflict policy is
    /// <see cref="LockConflictPolicy.Fail"/> or <see cref="LockConflictPolicy.Redirect"/>, or the wait timed out.</exception>
    /// <exception cref="ClusterUnavailableException">The session cannot be served now (no quorum, not caught up).</exception>
    Task<Session?> FindAsync(string id, SessionAccess access, CancellationToken cancellationToken = default);

    /// <summary>Adds or updates the session in the cluster (only its changes travel) and releases its lock; completes
    /// once the change is held by the write concern. Releases without a change when nothing changed.</summary>
    /// <exception cref="SessionTooLargeException">The session would exceed its maximum size; nothing changed, the lock is released.</exception>
    /// <exception cref="LockLostException">The lock's lease ended and another holder took it; nothing changed.</exception>
    /// <exception cref="ClusterUnavailableException">The change could not be applied (no quorum); nothing changed.</exception>
    Task CommitAsync(Session session, CancellationToken cancellationToken = default);

    /// <summary>Releases the session's lock without changing it (a request that failed).</summary>
    Task ReleaseAsync(Session session, CancellationToken cancellationToken = default);

    /// <summary>Removes the session from the cluster (invalidated by the application, or expired). A removed session
    /// stays removed: no copy of it comes back.</summary>
    /// <returns>Whether this node removed it (expiry is decided by the node that acts as the session's owner only).</returns>
    /// <exception cref="ClusterUnavailableException">The removal could not be applied (no quorum); nothing changed.</exception>
    Task<bool> RemoveAsync(string id, SessionRemovalReason reason, CancellationToken cancellationToken = default);
}
