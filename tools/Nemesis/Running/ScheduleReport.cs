using System.Globalization;
using System.Text;

namespace Multicast.Nemesis.Running;

/// <summary>How a schedule's result is printed: on a failure the seed, the schedule, each violation with the history
/// lines that show it, the harness's timeline, and the command that replays it.</summary>
internal static class ScheduleReport
{
    /// <summary>At most this many violations are printed per schedule (the count is always printed).</summary>
    public const int MaxViolations = 12;

    public static string Format(ScheduleResult result, bool fullHistory = false)
    {
        var s = result.Schedule;
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"{(result.Passed ? "PASS" : "FAIL")} seed {s.Seed} ({s.Store}, {s.Family}): ");
        b.Append(CultureInfo.InvariantCulture, $"{result.Violations.Count} violations, {result.History.Count} steps, {result.Elapsed.TotalSeconds:0.0} s\n");
        b.Append(s);
        if (!result.Passed)
        {
            var byId = result.History.ToDictionary(o => o.Id);
            b.Append("violations:\n");
            foreach (var v in result.Violations.Take(MaxViolations))
            {
                b.Append("  ").Append(v).Append('\n');
                foreach (var id in v.Ops.Distinct().Take(6))
                {
                    if (byId.TryGetValue(id, out var op))
                        b.Append("      ").Append(op).Append('\n');
                }
            }
            if (result.Violations.Count > MaxViolations)
                b.Append(CultureInfo.InvariantCulture, $"  ... and {result.Violations.Count - MaxViolations} more\n");
            b.Append("timeline:\n");
            foreach (var e in result.Events)
                b.Append("  ").Append(e).Append('\n');
        }
        if (fullHistory)
        {
            b.Append("history:\n");
            foreach (var op in result.History)
                b.Append("  ").Append(op).Append('\n');
        }
        b.Append("replay: ").Append(s.ReplayCommand).Append('\n');
        return b.ToString();
    }
}
