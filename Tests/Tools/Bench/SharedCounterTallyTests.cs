using Multicast.Bench.SharedSession;

namespace Multicast.Tests.Tools.Bench;

/// <summary>The lost-update scenario's counting: what is lost, what is a phantom, which answers were duplicated.</summary>
public sealed class SharedCounterTallyTests
{
    [Test]
    public void Lost_FinalBelowAcknowledged_CountsTheMissingIncrements()
    {
        var sut = new SharedCounterTally();
        foreach (var value in new long[] { 1, 2, 3, 3, 4, 4 })
            sut.Answered(value);

        sut.Final = 4;

        Assert.That(sut.Acknowledged, Is.EqualTo(6));
        Assert.That(sut.Lost, Is.EqualTo(2));
        Assert.That(sut.DuplicateAnswers, Is.EqualTo(2));
        Assert.That(sut.Phantom, Is.Zero);
    }

    [Test]
    public void Lost_EveryIncrementKept_IsZero()
    {
        var sut = new SharedCounterTally();
        for (var value = 1; value <= 5; value++)
            sut.Answered(value);
        sut.Refused();

        sut.Final = 5;

        Assert.That((sut.Lost, sut.DuplicateAnswers, sut.Phantom, sut.Rejected), Is.EqualTo((0L, 0L, 0L, 1L)));
    }

    [Test]
    public void Phantom_FinalAboveAcknowledgedAndUnknown_CountsTheExcess()
    {
        var sut = new SharedCounterTally();
        sut.Answered(1);
        sut.NoAnswer(); // may have been applied: 2 is fine, 3 is not

        sut.Final = 3;

        Assert.That(sut.Phantom, Is.EqualTo(1));
        Assert.That(sut.Lost, Is.Zero);
    }

    [Test]
    public void Lost_BeforeTheFinalRead_IsZero()
    {
        var sut = new SharedCounterTally();
        sut.Answered(1);

        Assert.That(sut.Lost, Is.Zero);
    }
}
