using Multicast.Messaging;
using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>
/// Where a <see cref="SessionManager"/> keeps its sessions when the application is distributed: the
/// cluster's shared session state and the session locks.
/// </summary>
/// <remarks>
/// <para><b>Atomicity.</b> A commit (<see cref="SendAsync"/>) is applied as a whole or not at all, on every
/// node: readers see the version before or the version after, never a mix. Updates to one session are
/// applied on every node in version order.</para>
/// <para><b>Locks.</b> <see cref="FindAsync"/> with <see cref="SessionAccess.Exclusive"/> returns the session
/// locked for this instance; the lock is released by <see cref="SendAsync"/> or <see cref="ReleaseAsync"/>,
/// when its lease ends, or at once when this node leaves the view. Each grant carries a fencing token
/// larger than any before it: a commit under a token that is no longer current is refused with
/// <see cref="LockLostException"/> and changes nothing.</para>
/// <para><b>Durability.</b> <see cref="SendAsync"/> completes once the number of other members set by the
/// write concern (<see cref="ClusterStoreOptions.ReplicationAcks"/>) hold the update.</para>
/// <para><b>Threads.</b> Peers' updates are applied by <see cref="ReceiveSession"/> on the transport's
/// receive thread, so a change is in place on every node before the next request for it can arrive there.</para>
/// </remarks>
public interface IClusterStore : IAsyncDisposable
{
    /// <summary>This instance's id: the owner of the locks it takes (the node id).</summary>
    string InstanceId { get; }

    /// <summary>The manager this store serves, once started.</summary>
    SessionManager? Manager { get; }

    /// <summary>The current membership view.</summary>
    MembershipView View { get; }

    /// <summary>True once this node has joined and holds every session it must (state transfer done).</summary>
    bool IsReady { get; }

    /// <summary>Joins the cluster and receives the sessions this node must hold; completes when <see cref="IsReady"/>.</summary>
    Task StartAsync(SessionManager manager, CancellationToken cancellationToken = default);

    /// <summary>Leaves the cluster gracefully: hands off what this node owns, flushes, leaves the view.</summary>
    Task StopAsync(CancellationToken cancellationToken = default);

    /// <summary>Creates a session owned by this node, locked exclusively for this instance. It reaches the
    /// cluster with its first <see cref="SendAsync"/>.</summary>
    Task<Session> CreateAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// An up-to-date copy of the session (at least the last committed version anywhere in the cluster),
    /// locked for this instance as <paramref name="access"/> asks, or <see langword="null"/> when it does not
    /// exist or has expired.
    /// </summary>
    /// <exception cref="SessionLockedException">Another instance holds the lock and the conflict policy is
    /// <see cref="LockConflictPolicy.Fail"/> or <see cref="LockConflictPolicy.Redirect"/>, or the wait timed out.</exception>
    Task<Session?> FindAsync(string id, SessionAccess access, CancellationToken cancellationToken = default);

    /// <summary>Adds or updates the session in the cluster (only its changes travel) and releases its lock.</summary>
    /// <exception cref="SessionTooLargeException">The session would exceed its maximum size; nothing changed, the lock is still released.</exception>
    /// <exception cref="LockLostException">The lock's lease ended and another holder wrote since; nothing changed.</exception>
    /// <exception cref="TimeoutException">The write concern was not met in time; the update is applied locally and announced.</exception>
    Task SendAsync(Session session, CancellationToken cancellationToken = default);

    /// <summary>Releases the session's lock without changing it (a request that failed).</summary>
    Task ReleaseAsync(Session session, CancellationToken cancellationToken = default);

    /// <summary>Removes the session from the cluster (invalidated by the application, or expired).</summary>
    /// <returns>Whether this node removed it (expiry is decided by the session's acting owner only).</returns>
    Task<bool> RemoveAsync(string id, SessionRemovalReason reason, CancellationToken cancellationToken = default);

    /// <summary>Applies a peer's update on the receive thread. Never throws: a stale or malformed update is refused and counted.</summary>
    /// <returns>Whether the update was applied.</returns>
    bool ReceiveSession(SessionUpdate update);
}
