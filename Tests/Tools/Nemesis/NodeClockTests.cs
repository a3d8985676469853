using Multicast.Nemesis.Cluster;
using Multicast.Tests.TestSupport;

namespace Multicast.Tests.Tools.Nemesis;

/// <summary>The pausable, skewable clock a harness node runs on.</summary>
public sealed class NodeClockTests
{
    [Test]
    public void Skew_MovesTheWallClockOnly()
    {
        var sut = new NodeClock(TimeSpan.FromHours(1));

        var wall = sut.GetUtcNow() - DateTimeOffset.UtcNow;
        var monotonic = TimeProvider.System.GetElapsedTime(sut.GetTimestamp());

        Assert.That(wall, Is.GreaterThan(TimeSpan.FromMinutes(59)));
        Assert.That(monotonic, Is.LessThan(TimeSpan.FromMinutes(1)), "timestamps are the system's");
    }

    [Test]
    public async Task Pause_TimerDueMeanwhile_FiresLateOnResume()
    {
        var sut = new NodeClock();
        var fired = 0;
        sut.Pause();
        using var timer = sut.CreateTimer(_ => Interlocked.Increment(ref fired), null, TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        await PeriodsGoByAsync(20);
        Assert.That(Volatile.Read(ref fired), Is.Zero, "frozen while paused");

        sut.Resume();

        await Eventually.Until(() => Volatile.Read(ref fired) == 1, "the missed tick fires, late");
        Assert.That(sut.IsPaused, Is.False);
    }

    [Test]
    public async Task Pause_PeriodicTimer_MissedTicksCoalesce()
    {
        var sut = new NodeClock();
        var fired = 0;
        using var timer = sut.CreateTimer(_ => Interlocked.Increment(ref fired), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(1));
        await Eventually.Until(() => Volatile.Read(ref fired) > 0, "ticking");
        sut.Pause();
        await PeriodsGoByAsync(5); // a tick already running when the clock paused may still land
        var atPause = Volatile.Read(ref fired);
        await PeriodsGoByAsync(50);

        Assert.That(Volatile.Read(ref fired), Is.EqualTo(atPause), "no tick while paused");
        sut.Resume();
        await Eventually.Until(() => Volatile.Read(ref fired) > atPause, "ticking again");
    }

    [Test]
    public async Task Delay_OnAPausedClock_CompletesOnlyAfterResume()
    {
        var sut = new NodeClock();
        sut.Pause();

        var delay = Task.Delay(TimeSpan.FromMilliseconds(1), sut);
        await PeriodsGoByAsync(20);
        Assert.That(delay.IsCompleted, Is.False);

        sut.Resume();
        await Eventually.Within(delay, "the delay completes after resume");
    }

    /// <summary>Waits until an unpaused clock's 1 ms timer has fired <paramref name="periods"/> times: the witness that
    /// time went by while the clock under test stayed frozen.</summary>
    private static async Task PeriodsGoByAsync(int periods)
    {
        var witness = new NodeClock();
        var ticks = 0;
        using var timer = witness.CreateTimer(_ => Interlocked.Increment(ref ticks), null, TimeSpan.Zero, TimeSpan.FromMilliseconds(1));
        await Eventually.Until(() => Volatile.Read(ref ticks) >= periods, $"{periods} periods went by");
    }
}
