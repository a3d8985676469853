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
public sealed class ReplicatedClusterStore : ArbitratedClusterStore
{
    /// <summary>Creates the store over a group channel (not yet started: <see cref="ArbitratedClusterStore.StartAsync"/> starts it).</summary>
    public ReplicatedClusterStore(IGroupChannel channel, ClusterStoreOptions options, TimeProvider? time = null, ILogger? logger = null)
        : base(new StoreEngine(channel, options, EveryNodePlacement.Instance, time, logger))
    {
    }
}
