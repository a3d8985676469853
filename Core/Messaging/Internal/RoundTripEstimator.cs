namespace Multicast.Messaging.Internal;

/// <summary>
/// The NAK → repair round trip to one sender, smoothed as TCP smooths its RTT (RFC 6298: SRTT gains 1/8, RTTVAR 1/4),
/// and the retry timeout derived from it: a receiver asks again for a missing packet only after this long without a
/// repair. Times are <see cref="TimeProvider"/> timestamps. Not thread-safe (under the channel lock).
/// </summary>
internal sealed class RoundTripEstimator
{
    private const int MaxBackoff = 16;

    private long _smoothed;
    private long _variation;
    private int _backoff = 1;

    /// <summary>How many round trips were measured.</summary>
    public int Samples { get; private set; }

    /// <summary>The smoothed round trip; 0 before the first sample.</summary>
    public long Smoothed => _smoothed;

    /// <summary>SRTT + 4 RTTVAR (<paramref name="initial"/> until a round trip was measured) within the bounds, times the
    /// back-off.</summary>
    public long RetryTimeout(long initial, long min, long max) =>
        Math.Min(max, Math.Clamp(Samples == 0 ? initial : _smoothed + 4 * _variation, min, max) * _backoff);

    /// <summary>A request had to be repeated and not one of its repairs had arrived: the timeout may be shorter than the
    /// round trip. Doubles it until the next sample (Karn's rule: a repeated request gives no sample, so a timeout below the
    /// real round trip would otherwise never learn it).</summary>
    public void Backoff() => _backoff = Math.Min(_backoff * 2, MaxBackoff);

    /// <summary>Adds one measured round trip (only from a first request: a repeated one is ambiguous, Karn's rule).</summary>
    public void Add(long sample)
    {
        if (sample < 0)
            return;
        _backoff = 1;
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
