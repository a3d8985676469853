namespace Multicast.NetProbe;

/// <summary>Result lines for the test harness: one line at a time, flushed at once.</summary>
internal static class Output
{
    private static readonly object Gate = new();

    public static void Line(string line)
    {
        lock (Gate)
        {
            Console.Out.WriteLine(line);
            Console.Out.Flush();
        }
    }
}
