using System.Diagnostics;

namespace Multicast.Bench;

/// <summary>Collects latencies (Stopwatch ticks) and reports percentiles in milliseconds.</summary>
internal sealed class Latencies
{
    private readonly long[] _ticks;
    private int _count;

    public Latencies(int capacity) => _ticks = new long[capacity];

    public int Count => Volatile.Read(ref _count);

    /// <summary>Records one latency; safe from several threads.</summary>
    public void Add(long ticks)
    {
        var at = Interlocked.Increment(ref _count) - 1;
        if (at < _ticks.Length)
            _ticks[at] = ticks;
    }

    public double PercentileMs(double percentile)
    {
        var n = Math.Min(Count, _ticks.Length);
        if (n == 0)
            return double.NaN;
        var sorted = _ticks.AsSpan(0, n).ToArray();
        Array.Sort(sorted);
        var index = (int)Math.Ceiling(percentile / 100 * n) - 1;
        return sorted[Math.Clamp(index, 0, n - 1)] * 1000.0 / Stopwatch.Frequency;
    }

    /// <summary>Writes count, p50, p99, p99.9 and max (ms) with the given prefix.</summary>
    public void Report(BenchResult result, string prefix = "")
    {
        result.Set(prefix + "samples", Math.Min(Count, _ticks.Length));
        result.Set(prefix + "p50_ms", PercentileMs(50));
        result.Set(prefix + "p99_ms", PercentileMs(99));
        result.Set(prefix + "p99_9_ms", PercentileMs(99.9));
        result.Set(prefix + "max_ms", PercentileMs(100));
    }
}
