using Microsoft.Extensions.Logging;
using Multicast.Messaging;

using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>
/// Every node holds every session. Each session's acting owner (its id's ring index, or the next live node in ring
/// order) arbitrates its lock and sequences its commits: a holder elsewhere sends its change to the arbiter, which
/// validates the fencing token and broadcasts it once to the group; the commit completes when
/// <see cref="ClusterStoreOptions.ReplicationAcks"/> members acknowledged applying it. So each session has one order
/// of versions on every node, and a reader anywhere sees whole versions.
/// </summary>
/// <remarks>
/// <para>Only the primary partition (a majority of the last primary view, or <see cref="ClusterStoreOptions.Quorum"/>)
/// arbitrates. After every change of primary, the sessions whose arbiter changed are recovered from every member before
/// they are served, and a joining or returning node receives what it lacks before it reports ready (docs/stores.md).</para>
/// </remarks>
public sealed class ReplicatedClusterStore : ArbitratedClusterStore
{
    /// <summary>Creates the store over a group channel (not yet started: <see cref="ArbitratedClusterStore.StartAsync"/> starts it).</summary>
    public ReplicatedClusterStore(IGroupChannel channel, ClusterStoreOptions options, TimeProvider? time = null, ILogger? logger = null)
        : base(new StoreNode(channel, options, BroadcastReplication.Instance, time, logger))
    {
    }
}
