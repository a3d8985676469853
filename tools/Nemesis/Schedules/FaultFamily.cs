namespace Multicast.Nemesis.Schedules;

/// <summary>Which faults a schedule draws from (one CI test per store and family).</summary>
public enum FaultFamily
{
    /// <summary>No fault: the baseline every other family is measured against.</summary>
    None,

    /// <summary>Two-way partitions (a minority or a majority cut off) and one-way link cuts.</summary>
    Partition,

    /// <summary>A node paused past the suspect timeout (network held, timers frozen), then resumed.</summary>
    Pause,

    /// <summary>A slow member: its deliveries delayed, or its receive thread slowed.</summary>
    Slow,

    /// <summary>Datagrams dropped, duplicated and reordered across the whole network.</summary>
    Network,

    /// <summary>A node crashed and restarted, with or without its disk copy, or restarted gracefully.</summary>
    Crash,

    /// <summary>Clocks that disagree (per-node offsets and jumps) with short lock leases, plus a pause.</summary>
    Skew,

    /// <summary>Any of the above, overlapping.</summary>
    Mixed,
}
