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
/// <para>When the owner leaves, its first backup is the acting owner: it recovers the newest copy and the locks from
/// every member, keeps serving, and pushes whole copies to the node that became a backup. A node drops a copy it no
/// longer must hold once the acting owner confirms its holders have it. A returning owner takes its sessions back once
/// it has received them (it reports ready only then). Only the primary partition arbitrates.</para>
/// <para>With <see cref="ClusterStoreOptions.DataDirectory"/> each node keeps a disk copy of what it holds
/// (checksummed files; corrupt ones are skipped and counted); with <see cref="ClusterStoreOptions.DurableCommits"/>
/// a commit completes only once it is on the owner's and the acknowledging backups' disks. On restart a node
/// takes, per session, the newest of its disk copy and its peers' copies.</para>
/// </remarks>
public sealed class RingClusterStore : ArbitratedClusterStore
{
    /// <summary>Creates the store over a group channel (not yet started: <see cref="ArbitratedClusterStore.StartAsync"/> starts it).</summary>
    public RingClusterStore(IGroupChannel channel, ClusterStoreOptions options, TimeProvider? time = null, ILogger? logger = null)
        : base(new StoreNode(channel, options, new BackupReplication(options?.Backups ?? 0), time, logger))
    {
    }
}
