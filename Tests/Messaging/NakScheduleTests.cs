using Multicast.Messaging.Internal;

namespace Multicast.Tests.Messaging;

/// <summary>The receiver's NAK bookkeeping: what is asked for when, with no clock and no I/O.</summary>
public sealed class NakScheduleTests
{
    private const long Timeout = 1_000;

    private readonly SortedDictionary<long, BufferedPacket> _held = [];
    private readonly (long From, long To)[] _ranges = new (long, long)[256];
    private long _next = 1;
    private long _highest;

    [SetUp]
    public void Clear()
    {
        _held.Clear();
        _next = 1;
        _highest = 0;
    }

    private void Hold(params long[] sequences)
    {
        foreach (var seq in sequences)
        {
            _held[seq] = new BufferedPacket([], 0, seq, 0, 0);
            _highest = Math.Max(_highest, seq);
        }
    }

    private List<(long, long)> Collect(NakSchedule sut, long now, bool newGapsDue = true, bool retries = true, int limit = 80)
    {
        var missing = new MissingRanges(_held, _next, _highest);
        var count = sut.Collect(ref missing, now, newGapsDue, retries, Timeout, _ranges.AsSpan(0, limit));
        return _ranges.Take(count).ToList();
    }

    private void Repair(NakSchedule sut, List<(long, long)> asked, long now)
    {
        foreach (var (from, to) in asked)
        {
            for (var seq = from; seq <= to; seq++)
            {
                sut.OnRepair(seq, now, out _);
                Hold(seq);
            }
        }
    }

    private static NakSchedule NewGap(long now) => new() { NewGapSince = now };

    [Test]
    public void Collect_NewGaps_AsksForEveryMissingRangeOnceInOrder()
    {
        Hold(4, 5, 8, 11);
        var sut = NewGap(100);

        Assert.That(Collect(sut, 100), Is.EqualTo(new[] { (1L, 3L), (6L, 7L), (9L, 10L) }));
        Assert.That(Collect(sut, 100 + Timeout - 1), Is.Empty, "nothing again before the retry timeout");
        Assert.That(sut.NakedUpTo, Is.EqualTo(10));
        Assert.That(sut.NewGapSince, Is.Zero);
    }

    [Test]
    public void Collect_RetryTimeoutPassedWithoutRepair_AsksAgainWhatIsStillMissing()
    {
        Hold(4, 5, 8, 11);
        var sut = NewGap(100);
        Collect(sut, 100);
        Hold(2, 3); // repaired meanwhile

        Assert.That(Collect(sut, 100 + Timeout), Is.EqualTo(new[] { (1L, 1L), (6L, 7L), (9L, 10L) }));
    }

    [Test]
    public void Collect_RepeatedRounds_WaitTwiceAsLongEachTimeUpToEightTimeouts()
    {
        Hold(3);
        var sut = NewGap(0);
        var askedAt = new List<long>();
        for (var now = 0L; now <= 40 * Timeout; now += Timeout / 4)
        {
            if (Collect(sut, now).Count > 0)
                askedAt.Add(now);
        }

        Assert.That(askedAt.Take(6), Is.EqualTo(new[] { 0, Timeout, 3 * Timeout, 7 * Timeout, 15 * Timeout, 23 * Timeout }));
    }

    [Test]
    public void OnRepair_ArrivingRepairs_PostponeTheRetryOfTheirSegment()
    {
        Hold(10);
        var sut = NewGap(100);
        Collect(sut, 100); // asks for 1..9

        // The repairs of a burst keep arriving: the rest of the burst is not asked for while they do.
        for (var seq = 1L; seq <= 5; seq++)
        {
            Assert.That(sut.OnRepair(seq, 100 + seq * (Timeout / 2), out _), Is.True);
            Hold(seq);
        }
        Assert.That(Collect(sut, 100 + 5 * (Timeout / 2) + Timeout - 1), Is.Empty);
        Assert.That(Collect(sut, 100 + 5 * (Timeout / 2) + Timeout), Is.EqualTo(new[] { (6L, 9L) }));
    }

    [Test]
    public void OnRepair_FirstRepairOfAFirstRequest_IsTheOnlyRoundTripSample()
    {
        Hold(10);
        var sut = NewGap(100);
        Collect(sut, 100);

        sut.OnRepair(3, 350, out var first);
        sut.OnRepair(4, 400, out var second);
        Collect(sut, 400 + Timeout); // a second round for what is still missing
        sut.OnRepair(5, 450 + Timeout, out var afterRetry);

        Assert.That((first, second, afterRetry), Is.EqualTo((250L, -1L, -1L)), "Karn: a repeated request makes the round trip ambiguous");
    }

    [Test]
    public void OnRepair_PacketNeverAskedFor_SaysItWasLate()
    {
        Hold(10);
        var sut = NewGap(100);

        Assert.That(sut.OnRepair(5, 150, out var roundTrip), Is.False);
        Assert.That(roundTrip, Is.EqualTo(-1));
    }

    [Test]
    public void Collect_NewGapsNotDue_OnlyRetriesAreAsked()
    {
        Hold(5);
        var sut = NewGap(0);
        Collect(sut, 0); // 1..4
        Hold(9);
        sut.NewGapSince = Timeout; // 6..8 are new

        Assert.That(Collect(sut, Timeout, newGapsDue: false), Is.EqualTo(new[] { (1L, 4L) }));
        Assert.That(Collect(sut, Timeout, newGapsDue: true), Is.EqualTo(new[] { (6L, 8L) }));
    }

    [Test]
    public void Collect_RetriesNotAllowed_AsksOnlyForNewGaps()
    {
        Hold(5);
        var sut = NewGap(0);
        Collect(sut, 0);
        Hold(9);
        sut.NewGapSince = Timeout;

        Assert.That(Collect(sut, 5 * Timeout, retries: false), Is.EqualTo(new[] { (6L, 8L) }));
        Assert.That(Collect(sut, 5 * Timeout), Is.EqualTo(new[] { (1L, 4L) }), "the retry when it is allowed again");
    }

    [Test]
    public void Collect_MoreRangesThanFit_TheRestFollowsOneTimeoutLater()
    {
        for (var seq = 2L; seq <= 200; seq += 2)
            Hold(seq); // 1, 3, 5, ... 199 missing: 100 ranges
        var sut = NewGap(0);

        var first = Collect(sut, 0, limit: 80);
        Repair(sut, first, 10);
        var meanwhile = Collect(sut, Timeout - 1, limit: 80);
        var second = Collect(sut, Timeout, limit: 80);

        Assert.That(first, Has.Count.EqualTo(80));
        Assert.That(meanwhile, Is.Empty, "the next round waits a timeout");
        Assert.That(second, Has.Count.EqualTo(20));
        Assert.That(first.Concat(second).Select(r => r.Item1), Is.EqualTo(Enumerable.Range(0, 100).Select(i => 1L + 2 * i)));
    }

    [Test]
    public void Collect_SegmentAskedForInPart_TheRestWaitsForTheNextRound()
    {
        for (var seq = 2L; seq <= 200; seq += 2)
            Hold(seq);
        var sut = NewGap(0);
        Collect(sut, 0, limit: 200); // one segment, 1..199

        var retry = Collect(sut, Timeout, limit: 30);

        Assert.That(retry, Has.Count.EqualTo(30));
        Assert.That(Collect(sut, Timeout, limit: 200), Is.Empty, "the rest waits a timeout");
        Assert.That(Collect(sut, 2 * Timeout, limit: 200), Has.Count.EqualTo(70));
    }

    [Test]
    public void Collect_MorePacketsThanTheRequestWindow_AsksForTheWindowPerRound()
    {
        Hold(1001); // 1..1000 missing: one burst
        var sut = NewGap(0);

        var rounds = new List<List<(long, long)>>();
        for (var round = 0; round < 4; round++)
        {
            rounds.Add(Collect(sut, round * Timeout));
            Repair(sut, rounds[^1], round * Timeout + 10); // each round arrives whole
        }

        Assert.That(rounds.Select(r => r.Single()), Is.EqualTo(new[] { (1L, 256L), (257L, 512L), (513L, 768L), (769L, 1000L) }));
        Assert.That(sut.TimedOut, Is.False, "a later part of a burst asked for the first time is no timeout");
    }

    [Test]
    public void RequestWindow_RoundsThatLoseMostRepairs_HalveItAndCompleteRoundsWidenIt()
    {
        Hold(1001);
        var sut = NewGap(0);
        Collect(sut, 0); // asks 1..256
        for (var seq = 1L; seq <= 10; seq++)
        {
            sut.OnRepair(seq, 10, out _); // 10 of 256 repairs arrive: the path drops bursts
            Hold(seq);
        }

        var retry = Collect(sut, 10 + Timeout);
        var narrowed = sut.RequestWindow;
        Repair(sut, retry, 20 + Timeout); // this round arrives whole

        Assert.That(retry.Sum(r => r.Item2 - r.Item1 + 1), Is.EqualTo(NakSchedule.MaxRequest / 2));
        Assert.That(narrowed, Is.EqualTo(NakSchedule.MaxRequest / 2));
        Assert.That(sut.RequestWindow, Is.EqualTo(NakSchedule.MaxRequest), "a round that arrived whole widens the window again");
    }

    [Test]
    public void Advance_EverythingBeforeArrived_DropsItsSegments()
    {
        Hold(3);
        var sut = NewGap(0);
        Collect(sut, 0);
        Hold(6);
        sut.NewGapSince = 10;
        Collect(sut, 10);
        Assert.That(sut.SegmentCount, Is.EqualTo(2));

        sut.Advance(5);

        Assert.That(sut.SegmentCount, Is.EqualTo(1));
    }

    [Test]
    public void Collect_ManyNewGapsOverTime_KeepsAtMostMaxSegments()
    {
        var sut = new NakSchedule();
        for (var i = 0; i < NakSchedule.MaxSegments + 10; i++)
        {
            Hold(2 + 2L * i);
            sut.NewGapSince = i;
            Collect(sut, i);
        }

        Assert.That(sut.SegmentCount, Is.EqualTo(NakSchedule.MaxSegments));
        Assert.That(sut.NakedUpTo, Is.EqualTo(1 + 2L * (NakSchedule.MaxSegments + 9)));
    }

    [Test]
    public void NextDue_NewGapAndSegments_IsTheEarlierOfGuardAndRetry()
    {
        Hold(3);
        var sut = NewGap(0);
        Collect(sut, 0);

        Assert.That(sut.NextDue(50), Is.EqualTo(Timeout));
        sut.NewGapSince = 200;
        Assert.That(sut.NextDue(50), Is.EqualTo(250));
    }

    [Test]
    public void Collect_AskedAgainWithoutAnyRepair_SaysItTimedOut()
    {
        Hold(3);
        var sut = NewGap(0);

        Collect(sut, 0);
        var first = sut.TimedOut;
        Collect(sut, Timeout);

        Assert.That((first, sut.TimedOut), Is.EqualTo((false, true)));
    }

    [Test]
    public void Collect_RoundsThatBringRepairs_AskAgainAfterOneTimeoutWithoutBackingOff()
    {
        Hold(10);
        var sut = NewGap(0);
        var askedAt = new List<long>();
        for (var now = 0L; now <= 5 * Timeout; now += 10)
        {
            if (Collect(sut, now).Count > 0)
            {
                askedAt.Add(now);
                sut.OnRepair(askedAt.Count, now + 100, out _); // one repair of each round arrives, the others are lost
                Hold(askedAt.Count);
            }
        }

        Assert.That(askedAt.Take(4), Is.EqualTo(new[] { 0, 100 + Timeout, 2 * (100 + Timeout), 3 * (100 + Timeout) }));
        Assert.That(sut.TimedOut, Is.False, "progress is no timeout: the round trip needs no back-off");
    }

    [Test]
    public void RetryTimeout_RepeatedRequestsWithoutSample_DoublesUntilTheNextSample()
    {
        var sut = new RoundTripEstimator();

        sut.Backoff();
        sut.Backoff();
        var backedOff = sut.RetryTimeout(5_000, 200, 100_000);
        sut.Add(1_000);

        Assert.That(backedOff, Is.EqualTo(20_000), "a round trip longer than the timeout is learnt: the timeout grows until requests are answered in time");
        Assert.That(sut.RetryTimeout(5_000, 200, 100_000), Is.EqualTo(1_000 + 4 * 500), "a sample ends the back-off");
        for (var i = 0; i < 10; i++)
            sut.Backoff();
        Assert.That(sut.RetryTimeout(5_000, 200, 10_000), Is.EqualTo(10_000), "never above the maximum");
    }

    [Test]
    public void RetryTimeout_MeasuredRoundTrips_FollowsThemWithinTheBounds()
    {
        var sut = new RoundTripEstimator();

        Assert.That(sut.RetryTimeout(5_000, 200, 250_000), Is.EqualTo(5_000), "before any sample: the initial timeout");
        for (var i = 0; i < 50; i++)
            sut.Add(1_000);
        Assert.That(sut.Smoothed, Is.EqualTo(1_000));
        Assert.That(sut.RetryTimeout(5_000, 200, 250_000), Is.InRange(1_000, 1_100), "steady round trips: hardly any variation");
        sut.Add(9_000);
        Assert.That(sut.RetryTimeout(5_000, 200, 250_000), Is.GreaterThan(8_000), "a spike widens the timeout at once");
        Assert.That(sut.RetryTimeout(5_000, 200, 2_000), Is.EqualTo(2_000));
        for (var i = 0; i < 50; i++)
            sut.Add(10);
        Assert.That(sut.RetryTimeout(5_000, 200, 250_000), Is.EqualTo(200));
    }
}
