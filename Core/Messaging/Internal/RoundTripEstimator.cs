namespace Multicast.Messaging.Internal;

/// <summary>
/// The NAK → repair round trip to one sender, smoothed as TCP smooths its RTT (RFC 6298: SRTT gains 1/8, RTTVAR 1/4),
/// and the retry timeout derived from it: a receiver asks again for a missing packet only after this long without a
/// repair. Times are <see cref="TimeProvider"/> timestamps. Not thread-safe (under the channel lock).
/// </summary>
internal sealed class RoundTripEstimator
{
    private long _smoothed;
    private long _variation;

    /// <summary>How many round trips were measured.</summary>
    public int Samples { get; private set; }

    /// <summary>The smoothed round trip; 0 before the first sample.</summary>
    public long Smoothed => _smoothed;

    /// <summary>SRTT + 4 RTTVAR within the bounds; <paramref name="initial"/> until a round trip was measured.</summary>
    public long RetryTimeout(long initial, long min, long max) => Samples == 0 ? initial : Math.Clamp(_smoothed + 4 * _variation, min, max);

    /// <summary>Adds one measured round trip (only from a first request: a repeated one is ambiguous, Karn's rule).</summary>
    public void Add(long sample)
    {
        if (sample < 0)
            return;
        if (Samples++ == 0)
        {
            _smoothed = sample;
            _variation = sample / 2;
            return;
        }
        _variation += (Math.Abs(_smoothed - sample) - _variation) / 4;
        _smoothed += (sample - _smoothed) / 8;
    }
}
