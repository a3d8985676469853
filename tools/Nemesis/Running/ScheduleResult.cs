using Multicast.Nemesis.Checking;
using Multicast.Nemesis.History;
using Multicast.Nemesis.Schedules;

namespace Multicast.Nemesis.Running;

/// <summary>What one schedule did and what the checker found.</summary>
internal sealed record ScheduleResult(
    Schedule Schedule,
    IReadOnlyList<Violation> Violations,
    IReadOnlyList<OpRecord> History,
    IReadOnlyList<NodeSnapshot> Final,
    IReadOnlyList<string> Events,
    TimeSpan Elapsed)
{
    public bool Passed => Violations.Count == 0;
}
