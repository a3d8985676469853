using Multicast.Messaging.Internal;

namespace Multicast.Tests.Messaging;

public sealed class ReplayWindowTests
{
    [Test]
    public void TryAccept_EachCounterOnce_InAnyOrderWithinTheWindow()
    {
        var sut = new ReplayWindow();
        var counters = Enumerable.Range(1, 1000).Select(i => (long)i).OrderBy(i => (i * 7919) % 1000).ToArray();

        Assert.That(counters.All(sut.TryAccept), Is.True, "first time");
        Assert.That(counters.Any(sut.TryAccept), Is.False, "second time");
    }

    [Test]
    public void TryAccept_OlderThanTheWindow_IsRefused()
    {
        var sut = new ReplayWindow();
        sut.TryAccept(ReplayWindow.Width + 10);

        Assert.That(sut.TryAccept(5), Is.False);
        Assert.That(sut.TryAccept(20), Is.True);
    }

    [TestCase(0)]
    [TestCase(-1)]
    public void TryAccept_NonPositive_IsRefused(long counter)
    {
        Assert.That(new ReplayWindow().TryAccept(counter), Is.False);
    }
}
