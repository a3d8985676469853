namespace Multicast.Nemesis.Schedules;

/// <summary>One kind of injected fault; see <see cref="Fault"/> for what its fields mean per kind.</summary>
public enum FaultKind
{
    /// <summary>The nodes listed are cut off from the others, both ways, for the duration.</summary>
    Partition,

    /// <summary>The first node listed is not heard by the others listed (or by anyone, when it is alone), while it
    /// still hears them.</summary>
    OneWay,

    /// <summary>The node is frozen (network held, timers frozen) for the duration, then resumed: a SIGSTOP/SIGCONT.</summary>
    Pause,

    /// <summary>Every delivery to the node is delayed by <see cref="Fault.Amount"/> for the duration.</summary>
    SlowDeliveries,

    /// <summary>The node's receive thread spends <see cref="Fault.Amount"/> per datagram for the duration.</summary>
    SlowHandler,

    /// <summary>The whole network drops, duplicates and reorders datagrams with <see cref="Fault.Probability"/> each.</summary>
    Lossy,

    /// <summary>The node dies (no leave) and restarts with its disk copy after the duration.</summary>
    Crash,

    /// <summary>The node dies and restarts after the duration with its disk copy deleted.</summary>
    CrashWipe,

    /// <summary>The node leaves gracefully (StopAsync) and starts again after the duration.</summary>
    GracefulRestart,

    /// <summary>The node's wall clock jumps by <see cref="Fault.Amount"/> for the duration (lock leases are on it).</summary>
    ClockSkew,
}
