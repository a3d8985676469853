using System.Globalization;

namespace Multicast.Nemesis.Schedules;

/// <summary>One fault of a schedule: what, to whom, when (from the start of the load) and for how long.</summary>
/// <param name="Kind">What is injected.</param>
/// <param name="At">When it starts, from the start of the load.</param>
/// <param name="Duration">How long it lasts (for a crash: how long the node stays down).</param>
/// <param name="Nodes">The node indexes it targets (0-based); see <see cref="FaultKind"/>.</param>
/// <param name="Probability">For <see cref="FaultKind.Lossy"/>: the drop, duplicate and reorder probability.</param>
/// <param name="Amount">For slow members: the delay; for clock skew: the offset (may be negative).</param>
internal sealed record Fault(FaultKind Kind, TimeSpan At, TimeSpan Duration, IReadOnlyList<int> Nodes, double Probability = 0, TimeSpan Amount = default)
{
    /// <summary>When it ends.</summary>
    public TimeSpan Until => At + Duration;

    /// <summary>One line, node numbers 1-based as the node ids are (node1, node2, ...).</summary>
    public override string ToString()
    {
        static string Name(int i) => $"node{i + 1}";
        string Set(IEnumerable<int> nodes) => "{" + string.Join(",", nodes.Select(Name)) + "}";
        var what = Kind switch
        {
            FaultKind.Partition => $"partition {Set(Nodes)} from the rest",
            FaultKind.OneWay => Nodes.Count == 1 ? $"one-way: nobody hears {Name(Nodes[0])} (it hears everyone)"
                : $"one-way: {Set(Nodes.Skip(1))} do not hear {Name(Nodes[0])} (it hears them)",
            FaultKind.Pause => $"pause {Name(Nodes[0])} (network held, timers frozen)",
            FaultKind.SlowDeliveries => $"deliveries to {Name(Nodes[0])} delayed {Ms(Amount)}",
            FaultKind.SlowHandler => $"receive thread of {Name(Nodes[0])} spends {Ms(Amount)} per datagram",
            FaultKind.Lossy => string.Create(CultureInfo.InvariantCulture, $"network drops, duplicates and reorders {Probability:0.00} each"),
            FaultKind.Crash => $"crash {Name(Nodes[0])}, restart with its disk copy",
            FaultKind.CrashWipe => $"crash {Name(Nodes[0])}, restart without its disk copy",
            FaultKind.GracefulRestart => $"graceful restart of {Name(Nodes[0])}",
            FaultKind.ClockSkew => $"clock of {Name(Nodes[0])} jumps {(Amount >= TimeSpan.Zero ? "+" : "-")}{Ms(Amount.Duration())}",
            _ => Kind.ToString(),
        };
        return $"+{Seconds(At)} for {Seconds(Duration)}: {what}";
    }

    internal static string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture) + "s";

    internal static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + "ms";
}
