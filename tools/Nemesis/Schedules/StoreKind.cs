namespace Multicast.Nemesis.Schedules;

/// <summary>The store a schedule runs against.</summary>
public enum StoreKind
{
    /// <summary><see cref="Stores.ReplicatedClusterStore"/>: every node holds every session.</summary>
    Replicated,

    /// <summary><see cref="Stores.RingClusterStore"/>: owner plus one backup, with a disk copy per node.</summary>
    Ring,
}
