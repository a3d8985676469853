namespace Multicast.Bench;

/// <summary>One measured configuration: a name and its figures (messages_per_s, p99_ms, ...).</summary>
internal sealed class BenchResult
{
    public string Name { get; set; } = "";

    public SortedDictionary<string, double> Figures { get; } = new(StringComparer.Ordinal);

    public BenchResult Set(string figure, double value)
    {
        Figures[figure] = value;
        return this;
    }
}
