namespace Multicast.Bench;

/// <summary>Summaries over alternated rounds.</summary>
internal static class Statistics
{
    /// <summary>The median of the values that are numbers (NaN when there are none).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
