using System.Globalization;
using System.Runtime.InteropServices;

namespace Multicast.Bench.Http;

/// <summary>
/// CPU time of server processes from <c>/proc/&lt;pid&gt;/stat</c>: user + system time of every thread of the process
/// (fields 14 and 15, in clock ticks), summed over the processes of one side, sampled at the start and end of a
/// measured window.
/// </summary>
internal static partial class ProcessCpu
{
    private const int SysconfClockTicks = 2; // _SC_CLK_TCK on Linux

    private static readonly Lazy<double> TicksPerSecond = new(() =>
    {
        var ticks = Sysconf(SysconfClockTicks);
        return ticks > 0 ? ticks : 100;
    });

    /// <summary>User + system CPU seconds of the processes so far (a process that is gone counts 0).</summary>
    public static double Seconds(IEnumerable<int> processIds)
    {
        double total = 0;
        foreach (var id in processIds)
        {
            try
            {
                total += ParseTicks(File.ReadAllText($"/proc/{id.ToString(CultureInfo.InvariantCulture)}/stat")) / TicksPerSecond.Value;
            }
            catch (IOException)
            {
                // exited
            }
        }
        return total;
    }

    /// <summary>utime + stime (clock ticks) from one <c>/proc/&lt;pid&gt;/stat</c> line; the command name may hold spaces and parentheses.</summary>
    public static long ParseTicks(string stat)
    {
        var afterName = stat.LastIndexOf(')');
        if (afterName < 0)
            throw new FormatException("not a /proc/<pid>/stat line: no ')' after the command name");
        // After "pid (comm) ": state is field 3, so utime (field 14) and stime (field 15) are the 12th and 13th.
        var fields = stat[(afterName + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 13)
            throw new FormatException($"not a /proc/<pid>/stat line: {fields.Length} fields after the command name");
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    [LibraryImport("libc", EntryPoint = "sysconf")]
    private static partial long Sysconf(int name);
}
