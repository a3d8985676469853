using Multicast.Stores;
using Multicast.Tests.TestSupport;

namespace Multicast.Tests.Stores;

/// <summary>
/// The read path's one clock reading: on the system clock it is derived from a coarse monotonic clock and the
/// provider's readings at the last calibration, so it must stay within the documented bound of the provider (one
/// kernel tick, 1–16 ms); any other provider is read exactly.
/// </summary>
public sealed class RequestClockTests
{
    // The bound the docs state is one kernel tick either way; this allows for a coarse 100 Hz kernel with room to spare.
    private static readonly TimeSpan Bound = TimeSpan.FromMilliseconds(50);

    [Test]
    public void Now_OnTheSystemClock_StaysWithinOneKernelTickOfTheProvider()
    {
        var time = TimeProvider.System;
        var sut = new RequestClock(time);
        var frequency = time.TimestampFrequency;
        var boundTicks = (long)(Bound.TotalSeconds * frequency);

        // Across calibrations and between them: the derived time follows the provider's, never leaving the bound.
        for (var i = 0; i < 2_000; i++)
        {
            if (i % 500 == 0)
                sut.Calibrate();
            var utcBefore = time.GetUtcNow();
            var stampBefore = time.GetTimestamp();
            var now = sut.Now();
            var stampAfter = time.GetTimestamp();
            var utcAfter = time.GetUtcNow();

            Assert.That(now.Utc, Is.InRange(utcBefore - Bound, utcAfter + Bound), $"reading {i}: wall-clock time");
            Assert.That(now.Timestamp, Is.InRange(stampBefore - boundTicks, stampAfter + boundTicks), $"reading {i}: timestamp");
            Assert.That(now.Utc.Offset, Is.EqualTo(TimeSpan.Zero));
        }
    }

    [Test]
    public void Now_OnAnotherProvider_ReadsItExactly()
    {
        var time = new ManualTimeProvider();
        var sut = new RequestClock(time);

        time.Advance(TimeSpan.FromMinutes(3) + TimeSpan.FromTicks(7)); // no calibration in between: nothing is derived
        var now = sut.Now();

        Assert.That(now.Utc, Is.EqualTo(time.GetUtcNow()));
        Assert.That(now.Timestamp, Is.EqualTo(time.GetTimestamp()));
    }
}
