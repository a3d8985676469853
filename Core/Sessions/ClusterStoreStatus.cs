namespace Multicast.Sessions;

/// <summary>Where a cluster store is in its life, as health checks report it.</summary>
public enum ClusterStoreStatus
{
    /// <summary>Not started yet.</summary>
    Stopped = 0,

    /// <summary>Joining, or catching up after it was cut off: not serving yet.</summary>
    Joining = 1,

    /// <summary>Serving, and the write concern can be met.</summary>
    Ready = 2,

    /// <summary>Serving, but fewer members can acknowledge a commit than the write concern asks for: commits complete
    /// with the acknowledgements the remaining members can give.</summary>
    Degraded = 3,

    /// <summary>In a minority partition (no quorum): refuses exclusive requests until it rejoins the primary side.</summary>
    NoQuorum = 4,

    /// <summary>Leaving gracefully: finishes what is in flight, takes no new requests.</summary>
    Leaving = 5,
}
