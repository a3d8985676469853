namespace Multicast.Stores;

/// <summary>
/// The clock a read-only find reads: one reading gives both the wall-clock time (expiry, the access time) and the
/// timestamp (the lease checks), where the store used to read <see cref="TimeProvider.GetUtcNow"/> and
/// <see cref="TimeProvider.GetTimestamp"/> on every request (~30 ns each on this project's machines, a quarter of
/// the owner read).
/// </summary>
/// <remarks>
/// On <see cref="TimeProvider.System"/> the reading is the OS's coarse monotonic clock (<c>Environment.TickCount64</c>,
/// a vDSO read of a kernel tick counter, a few ns), and both times are derived from the readings of the injected
/// provider taken at the store's last <see cref="Calibrate"/> (every store tick, ≤ 250 ms apart): a derived time
/// differs from the true one by at most the coarse clock's resolution either way (one kernel tick: 1–10 ms on Linux,
/// ~16 ms on Windows) and misses a wall-clock step until the next calibration. A pause still shows at once: the coarse clock is monotonic and runs while the process
/// is stopped. Any other provider (a test's fake clock) is read exactly, as before.
/// </remarks>
internal sealed class RequestClock
{
    private readonly TimeProvider _time;
    private readonly bool _coarse;
    private Calibration _base;

    public RequestClock(TimeProvider time)
    {
        _time = time;
        _coarse = ReferenceEquals(time, TimeProvider.System);
        _base = Take();
    }

    /// <summary>The provider the derived times stand for.</summary>
    public TimeProvider Time => _time;

    /// <summary>Takes the injected provider's readings again (a wall-clock step since the last one is picked up).</summary>
    public void Calibrate()
    {
        if (_coarse)
            Volatile.Write(ref _base, Take());
    }

    /// <summary>The time now, as wall-clock time and as the provider's timestamp.</summary>
    public RequestTime Now()
    {
        if (!_coarse)
            return new RequestTime(_time.GetUtcNow(), _time.GetTimestamp());
        var at = Volatile.Read(ref _base);
        var elapsedMs = CoarseMilliseconds() - at.Milliseconds;
        return new RequestTime(
            new DateTimeOffset(at.UtcTicks + (elapsedMs * TimeSpan.TicksPerMillisecond), TimeSpan.Zero),
            at.Timestamp + (elapsedMs * _time.TimestampFrequency / 1000));
    }

    private Calibration Take() => new(_coarse ? CoarseMilliseconds() : 0, _time.GetTimestamp(), _time.GetUtcNow().UtcTicks);

    // The one clock of the library stays the injected provider: this only measures the time since its last readings.
#pragma warning disable RS0030
    private static long CoarseMilliseconds() => Environment.TickCount64;
#pragma warning restore RS0030

    private sealed record Calibration(long Milliseconds, long Timestamp, long UtcTicks);
}

/// <summary>One reading of a <see cref="RequestClock"/>.</summary>
/// <param name="Utc">The wall-clock time.</param>
/// <param name="Timestamp">The same instant as a <see cref="TimeProvider.GetTimestamp"/> value of the clock's provider.</param>
internal readonly record struct RequestTime(DateTimeOffset Utc, long Timestamp);
