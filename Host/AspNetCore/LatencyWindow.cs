namespace Multicast.AspNetCore;

/// <summary>
/// Percentiles of recent durations (the last minute, in slots of 10 s) without keeping the samples: log-spaced
/// buckets, eight per doubling from 1 µs to about a minute, so a percentile is off by at most 9 %. Recording is
/// lock-free; a slot whose time is up is reset by the first recording (or read) after it.
/// </summary>
internal sealed class LatencyWindow
{
    private const int BucketsPerDoubling = 8;
    private const int Buckets = BucketsPerDoubling * 26 + 1; // up to 2^26 µs ≈ 67 s; longer lands in the last bucket
    private const int Slots = 6;
    private static readonly TimeSpan SlotLength = TimeSpan.FromSeconds(10);

    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly long[][] _counts = new long[Slots][];
    private readonly long[] _epochs = new long[Slots];
    private readonly Lock _rotate = new();

    public LatencyWindow(TimeProvider time)
    {
        _time = time;
        _start = time.GetTimestamp();
        for (var i = 0; i < Slots; i++)
        {
            _counts[i] = new long[Buckets];
            _epochs[i] = -1;
        }
    }

    /// <summary>The window: how far back the percentiles look.</summary>
    public static TimeSpan Length => SlotLength * Slots;

    public void Record(TimeSpan duration)
    {
        var slot = Current();
        Interlocked.Increment(ref _counts[slot][BucketOf(duration)]);
    }

    /// <summary>How many durations the window holds.</summary>
    public long Count
    {
        get
        {
            var total = 0L;
            foreach (var counts in Live())
            {
                for (var b = 0; b < counts.Length; b++)
                    total += Volatile.Read(ref counts[b]);
            }
            return total;
        }
    }

    /// <summary>The <paramref name="quantile"/> (0..1) of the window's durations, in milliseconds; null when it is empty.</summary>
    public double? Percentile(double quantile)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(quantile);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quantile, 1);
        var merged = new long[Buckets];
        var total = 0L;
        foreach (var counts in Live())
        {
            for (var b = 0; b < Buckets; b++)
            {
                var c = Volatile.Read(ref counts[b]);
                merged[b] += c;
                total += c;
            }
        }
        if (total == 0)
            return null;
        var rank = Math.Max(1, (long)Math.Ceiling(quantile * total));
        var seen = 0L;
        for (var b = 0; b < Buckets; b++)
        {
            seen += merged[b];
            if (seen >= rank)
                return Math.Round(UpperBoundMicroseconds(b) / 1000, 3);
        }
        return Math.Round(UpperBoundMicroseconds(Buckets - 1) / 1000, 3);
    }

    internal static int BucketOf(TimeSpan duration)
    {
        var micros = duration.Ticks / (double)TimeSpan.TicksPerMicrosecond;
        if (micros <= 1)
            return 0;
        return Math.Min(Buckets - 1, (int)Math.Ceiling(Math.Log2(micros) * BucketsPerDoubling));
    }

    internal static double UpperBoundMicroseconds(int bucket) => Math.Pow(2, bucket / (double)BucketsPerDoubling);

    private long Epoch() => (long)(_time.GetElapsedTime(_start) / SlotLength);

    /// <summary>The slot for now, reset first if it still holds an older epoch.</summary>
    private int Current()
    {
        var epoch = Epoch();
        var slot = (int)(epoch % Slots);
        if (Volatile.Read(ref _epochs[slot]) != epoch)
        {
            lock (_rotate)
            {
                if (_epochs[slot] != epoch)
                {
                    Array.Clear(_counts[slot]);
                    Volatile.Write(ref _epochs[slot], epoch);
                }
            }
        }
        return slot;
    }

    private IEnumerable<long[]> Live()
    {
        var epoch = Epoch();
        for (var i = 0; i < Slots; i++)
        {
            var e = Volatile.Read(ref _epochs[i]);
            if (e >= 0 && epoch - e < Slots)
                yield return _counts[i];
        }
    }
}
