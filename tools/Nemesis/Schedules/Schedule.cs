using System.Globalization;
using System.Text;
using Multicast.Stores;

namespace Multicast.Nemesis.Schedules;

/// <summary>
/// Everything one run does, drawn from a seed by <see cref="ScheduleGenerator"/>: the cluster, the faults with their
/// times, and each client's plan. The same seed, store and family always give the same schedule; the interleaving of
/// real threads and timers is not fixed, so a replay reproduces a timing-dependent failure often, not always.
/// </summary>
internal sealed record Schedule
{
    public required int Seed { get; init; }

    public required StoreKind Store { get; init; }

    public required FaultFamily Family { get; init; }

    public required int Nodes { get; init; }

    public required LockingMode Locking { get; init; }

    /// <summary>How many sessions the clients share (created before the load starts, replaced by Create steps).</summary>
    public required int Slots { get; init; }

    /// <summary>Each node's wall-clock offset from the start (the skew family; zero otherwise).</summary>
    public required IReadOnlyList<TimeSpan> InitialSkew { get; init; }

    public required IReadOnlyList<Fault> Faults { get; init; }

    /// <summary>Each client's steps, paced evenly over the load.</summary>
    public required IReadOnlyList<IReadOnlyList<PlannedOp>> Clients { get; init; }

    /// <summary>Seeds the hub's drop/duplicate/reorder decisions.</summary>
    public required int HubSeed { get; init; }

    public required NemesisTimings Timings { get; init; }

    /// <summary>The command that runs this schedule again.</summary>
    public string ReplayCommand =>
        $"dotnet run --project tools/Nemesis -c Release -- --store {Store} --family {Family} --seed {Seed.ToString(CultureInfo.InvariantCulture)}"
        + (LockingForced ? $" --locking {Locking}" : string.Empty) + " --schedules 1 --verbose";

    /// <summary>Whether <see cref="Locking"/> was chosen by the caller rather than drawn (the replay must say so).</summary>
    public bool LockingForced { get; init; }

    /// <summary>The schedule, human-readable: what a failure report prints.</summary>
    public override string ToString()
    {
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"schedule seed {Seed}: {Store} store, {Nodes} nodes, Locking={Locking}, {Slots} sessions, {Clients.Count} clients x {Clients[0].Count} steps over {Fault.Seconds(Timings.Load)}");
        b.Append(CultureInfo.InvariantCulture, $", lease {Fault.Ms(Timings.LockLease)}, suspect {Fault.Ms(Timings.Suspect)}, family {Family}\n");
        if (InitialSkew.Any(s => s != TimeSpan.Zero))
            b.Append("  clock offsets: ").Append(string.Join(", ", InitialSkew.Select((s, i) => $"node{i + 1} {(s >= TimeSpan.Zero ? "+" : "-")}{Fault.Ms(s.Duration())}"))).Append('\n');
        if (Faults.Count == 0)
            b.Append("  no faults\n");
        foreach (var fault in Faults)
            b.Append("  ").Append(fault).Append('\n');
        return b.ToString();
    }
}
