using System.Diagnostics;

namespace Multicast.Bench.Codec;

/// <summary>What one codec costs for one message: ns and bytes allocated per encode and per decode, and the encoded size.</summary>
internal sealed record CodecCost(double EncodeNs, double DecodeNs, double EncodeAllocated, double DecodeAllocated, int WireBytes)
{
    public double RoundTripNs => EncodeNs + DecodeNs;

    public double RoundTripAllocated => EncodeAllocated + DecodeAllocated;

    /// <summary>
    /// Times <paramref name="iterations"/> encodes, then as many decodes of the encoded bytes, on this thread; allocations
    /// from <see cref="GC.GetAllocatedBytesForCurrentThread"/> (exact, so one pass is enough for them).
    /// </summary>
    public static CodecCost Measure(Func<byte[]> encode, Func<byte[], bool> decode, int iterations)
    {
        var payload = encode();
        var before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
            payload = encode();
        var encodeTicks = clock.Elapsed.Ticks;
        var encodeAllocated = GC.GetAllocatedBytesForCurrentThread() - before;

        var ok = true;
        before = GC.GetAllocatedBytesForCurrentThread();
        clock.Restart();
        for (var i = 0; i < iterations; i++)
            ok &= decode(payload);
        var decodeTicks = clock.Elapsed.Ticks;
        var decodeAllocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (!ok)
            throw new InvalidOperationException("a codec refused its own encoding");

        const double NsPerTick = 1e9 / TimeSpan.TicksPerSecond;
        return new CodecCost(
            encodeTicks * NsPerTick / iterations,
            decodeTicks * NsPerTick / iterations,
            (double)encodeAllocated / iterations,
            (double)decodeAllocated / iterations,
            payload.Length);
    }

    /// <summary>Per figure, the median over rounds (timings are noisy on a shared machine; allocations barely vary).</summary>
    public static CodecCost Median(IReadOnlyList<CodecCost> rounds) => new(
        Statistics.Median(rounds.Select(r => r.EncodeNs)),
        Statistics.Median(rounds.Select(r => r.DecodeNs)),
        Statistics.Median(rounds.Select(r => r.EncodeAllocated)),
        Statistics.Median(rounds.Select(r => r.DecodeAllocated)),
        rounds[0].WireBytes);
}
