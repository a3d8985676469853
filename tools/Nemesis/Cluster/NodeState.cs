namespace Multicast.Nemesis.Cluster;

/// <summary>Where a node of the harness is in its life.</summary>
internal enum NodeState
{
    /// <summary>Started and taking requests (it may be paused).</summary>
    Up,

    /// <summary>Restarting: joining, not yet taking requests.</summary>
    Starting,

    /// <summary>Crashed or stopped.</summary>
    Down,
}
