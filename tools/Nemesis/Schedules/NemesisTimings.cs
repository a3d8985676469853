namespace Multicast.Nemesis.Schedules;

/// <summary>
/// The channel and store timings every schedule runs with: short, so that a pause longer than the suspect timeout and
/// a lease that runs out fit in a schedule of a second or two.
/// </summary>
internal sealed record NemesisTimings
{
    /// <summary>Channel heartbeat interval.</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Channel suspect timeout: a pause is longer than this.</summary>
    public TimeSpan Suspect { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Channel join timeout (the first node waits this long before it forms a group alone).</summary>
    public TimeSpan Join { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Store write-concern timeout.</summary>
    public TimeSpan Commit { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Store lock wait (policy Wait).</summary>
    public TimeSpan LockWait { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Store lock lease (the skew family draws a shorter one).</summary>
    public TimeSpan LockLease { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How long the load with its faults runs.</summary>
    public TimeSpan Load { get; init; } = TimeSpan.FromMilliseconds(1500);

    /// <summary>A client gives up on an answer after this (the request is then ambiguous, and reported as hung).</summary>
    public TimeSpan OpTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>After healing, how long the cluster has to become ready and converge.</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The session size limit; an oversize write is twice as large.</summary>
    public int MaxSessionBytes { get; init; } = 4096;
}
