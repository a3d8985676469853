using Multicast.AspNetCore;
using Multicast.Tests.TestSupport;

namespace Multicast.Tests.AspNetCore;

public sealed class LatencyWindowTests
{
    [Test]
    public void Percentile_Empty_IsNull()
    {
        var sut = new LatencyWindow(new ManualTimeProvider());

        Assert.That(sut.Percentile(0.5), Is.Null);
    }

    [Test]
    public void Percentile_KnownDurations_WithinTheBucketError()
    {
        var sut = new LatencyWindow(new ManualTimeProvider());
        for (var i = 1; i <= 100; i++)
            sut.Record(TimeSpan.FromMilliseconds(i));

        var p50 = sut.Percentile(0.50);
        var p99 = sut.Percentile(0.99);

        Assert.That(p50, Is.EqualTo(50).Within(9).Percent);
        Assert.That(p99, Is.EqualTo(99).Within(9).Percent);
        Assert.That(p50, Is.GreaterThanOrEqualTo(50), "a percentile is the upper bound of its bucket");
    }

    [Test]
    public void Percentile_OlderThanTheWindow_Forgotten()
    {
        var time = new ManualTimeProvider();
        var sut = new LatencyWindow(time);
        sut.Record(TimeSpan.FromSeconds(5));
        time.Advance(LatencyWindow.Length + TimeSpan.FromSeconds(10));
        sut.Record(TimeSpan.FromMilliseconds(2));

        Assert.That(sut.Count, Is.EqualTo(1));
        Assert.That(sut.Percentile(0.99), Is.LessThan(3));
    }

    [Test]
    public void Percentile_WithinTheWindow_Kept()
    {
        var time = new ManualTimeProvider();
        var sut = new LatencyWindow(time);
        sut.Record(TimeSpan.FromSeconds(5));
        time.Advance(LatencyWindow.Length - TimeSpan.FromSeconds(15));
        sut.Record(TimeSpan.FromMilliseconds(2));

        Assert.That(sut.Count, Is.EqualTo(2));
        Assert.That(sut.Percentile(1.0), Is.GreaterThan(4500));
    }
}
