using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>What a read-only request on a node other than the session's owner sees.</summary>
public enum ReadConsistency
{
    /// <summary>The latest committed version: the node asks the owner (one round trip, a copy only when it is behind),
    /// so a client sees its own writes whichever node serves it. On the owner a read costs no network. The default.</summary>
    Latest = 0,

    /// <summary>This node's copy, with no network: it may trail the last commit by the replication lag
    /// (a commit completes once <see cref="ClusterStoreOptions.ReplicationAcks"/> members, not all, hold it).</summary>
    Local = 1,
}
