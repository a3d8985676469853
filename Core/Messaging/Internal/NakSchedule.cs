namespace Multicast.Messaging.Internal;

/// <summary>
/// What one receive stream asked its sender to repair, and when: a list of contiguous segments of sequences, each
/// NAKed at one moment. A missing packet is asked for once when its gap is found, and again only when its segment saw
/// no repair for a whole retry timeout (doubling with each round that brought no repair at all, up to 8 timeouts):
/// repairs still on their way are not asked for twice, a burst loss is repaired in rounds paced by the round trip, and
/// a lost repair is asked for again a timeout after the last repair of its round arrived. No I/O, no clock: times are passed in (timestamps).
/// Not thread-safe (under the channel lock).
/// </summary>
internal sealed class NakSchedule
{
    /// <summary>Segments kept at most; beyond it, new gaps join the last one.</summary>
    public const int MaxSegments = 64;

    /// <summary>The most packets one request asks for: what a sender repairs per NAK.</summary>
    public const int MaxRequest = 256;

    /// <summary>The fewest packets one request asks for, however lossy the path.</summary>
    public const int MinRequest = 8;

    private readonly List<Segment> _segments = [];

    /// <summary>The highest sequence any NAK covered (0: none yet); gaps above it are new.</summary>
    public long NakedUpTo { get; private set; }

    /// <summary>When a missing packet above <see cref="NakedUpTo"/> was first seen (0: there is none).</summary>
    public long NewGapSince { get; set; }

    /// <summary>Conservatively the earliest moment a segment's retry may be due (<see cref="long.MaxValue"/>: none).</summary>
    public long RetryDue { get; private set; } = long.MaxValue;

    public int SegmentCount => _segments.Count;

    /// <summary>Whether the last <see cref="Collect"/> asked again for a segment of which no repair at all had arrived
    /// since it was last asked: the retry timeout may be shorter than the round trip.</summary>
    public bool TimedOut { get; private set; }

    /// <summary>How many packets one request asks for at most: halved (down to <see cref="MinRequest"/>) when a round lost
    /// more than half its repairs — the path drops bursts (a full receive buffer, a small queue) — and doubled (up to
    /// <see cref="MaxRequest"/>) when a round's repairs all arrived. Repairs after a burst loss are paced to what arrives.</summary>
    public int RequestWindow { get; private set; } = MaxRequest;

    /// <summary>Nothing is missing any more: forget everything.</summary>
    public void Reset()
    {
        _segments.Clear();
        NakedUpTo = 0;
        NewGapSince = 0;
        RetryDue = long.MaxValue;
    }

    /// <summary>Everything before <paramref name="next"/> arrived: drops the segments below it.</summary>
    public void Advance(long next)
    {
        var drop = 0;
        while (drop < _segments.Count && _segments[drop].To < next)
            drop++;
        if (drop > 0)
            _segments.RemoveRange(0, drop);
    }

    /// <summary>
    /// A missing packet arrived. Returns true when a NAK had asked for it (a repair; its segment now waits a full timeout
    /// from <paramref name="now"/> before asking again), false when none had (it was late: the network reorders).
    /// <paramref name="roundTrip"/> is the NAK → repair time when this is the first repair answering a first request
    /// (else -1). A round whose repairs all arrived widens the <see cref="RequestWindow"/>.
    /// </summary>
    public bool OnRepair(long sequence, long now, out long roundTrip)
    {
        roundTrip = -1;
        if (sequence > NakedUpTo)
            return false;
        for (var i = 0; i < _segments.Count; i++)
        {
            var segment = _segments[i];
            if (segment.To < sequence)
                continue;
            if (segment.From > sequence)
                break;
            if (segment.Asked > 0 && !segment.Repeated && segment.LastRepair == 0)
                roundTrip = now - segment.NakedAt;
            segment.LastRepair = now;
            if (++segment.Repaired == segment.Asked)
                RequestWindow = Math.Min(RequestWindow * 2, MaxRequest);
            _segments[i] = segment;
            break;
        }
        return true;
    }

    /// <summary>When the next NAK may be due: the new gap's reorder guard, or <see cref="RetryDue"/>.</summary>
    public long NextDue(long guard) => Math.Min(NewGapSince != 0 ? NewGapSince + guard : long.MaxValue, RetryDue);

    /// <summary>
    /// Picks what to ask for now, in sequence order: when <paramref name="retries"/>, the missing packets of every segment
    /// whose retry is due; when <paramref name="newGapsDue"/>, those above <see cref="NakedUpTo"/>. At most
    /// <see cref="RequestWindow"/> packets in at most <paramref name="ranges"/>.Length ranges: what does not fit waits a
    /// timeout, for the next round. Records what it asked for at <paramref name="now"/>; returns how many ranges it wrote.
    /// </summary>
    public int Collect(ref MissingRanges missing, long now, bool newGapsDue, bool retries, long retryTimeout, Span<(long From, long To)> ranges)
    {
        if (retries)
            JudgeDueRounds(now, retryTimeout);
        var count = 0;
        var budget = (long)RequestWindow;
        var segment = 0;
        var newUpTo = 0L;
        var newAsked = 0L;
        var stopped = false;
        while (!stopped && missing.Next(out var from, out var to))
        {
            // The part some NAK already covered: only what lies in a segment whose retry is due.
            for (var low = from; low <= Math.Min(to, NakedUpTo);)
            {
                while (segment < _segments.Count && _segments[segment].To < low)
                    segment++;
                if (segment == _segments.Count)
                    break;
                var s = _segments[segment];
                var high = Math.Min(Math.Min(to, NakedUpTo), s.To);
                if (high < s.From)
                    break;
                low = Math.Max(low, s.From);
                if (retries && now >= s.RetryAt(retryTimeout))
                {
                    if (count == ranges.Length || budget == 0)
                    {
                        stopped = true;
                        break;
                    }
                    var take = Math.Min(high - low + 1, budget);
                    ranges[count++] = (low, low + take - 1);
                    budget -= take;
                    s.AskedUpTo = low + take - 1;
                    s.AskedNow += take;
                    _segments[segment] = s;
                    if (low + take - 1 < high)
                    {
                        stopped = true;
                        break;
                    }
                }
                low = high + 1;
            }
            if (stopped || to <= NakedUpTo)
                continue;
            if (!newGapsDue)
                break; // everything further is new, and new gaps wait for their guard
            if (count == ranges.Length || budget == 0)
            {
                stopped = true;
                break;
            }
            var start = Math.Max(from, NakedUpTo + 1);
            var length = Math.Min(to - start + 1, budget);
            ranges[count++] = (start, start + length - 1);
            budget -= length;
            newUpTo = start + length - 1;
            newAsked += length;
            stopped = newUpTo < to;
        }
        Record(now, newUpTo, newAsked, stopped, stopped && newGapsDue ? missing.Highest : 0, retries, retryTimeout);
        if (newGapsDue)
            NewGapSince = 0;
        return count;
    }

    /// <summary>Before asking again: when a due segment lost more than half the repairs of its last round, the path drops
    /// repair bursts (a full receive buffer, a small queue): halves the <see cref="RequestWindow"/>, once per request.</summary>
    private void JudgeDueRounds(long now, long retryTimeout)
    {
        foreach (var s in _segments)
        {
            if (s.Asked > 0 && s.Repaired * 2 < s.Asked && now >= s.RetryAt(retryTimeout))
            {
                RequestWindow = Math.Max(RequestWindow / 2, MinRequest);
                return;
            }
        }
    }

    /// <summary>Marks the segments that were asked for (judging their previous round: no repair at all is a timeout),
    /// splits one asked for only in part (the rest waits a timeout), and appends
    /// the new gaps: those asked for, and, when the request was full, the rest up to <paramref name="deferUpTo"/>, to be
    /// asked for a timeout later. A due segment that was not asked for rests a timeout: nothing is missing in it, or the
    /// request was full.</summary>
    private void Record(long now, long newUpTo, long newAsked, bool stopped, long deferUpTo, bool retries, long retryTimeout)
    {
        var retryDue = long.MaxValue;
        TimedOut = false;
        for (var i = 0; i < _segments.Count; i++)
        {
            var s = _segments[i];
            if (s.AskedUpTo == 0)
            {
                if (retries && now >= s.RetryAt(retryTimeout))
                    _segments[i] = s = s with { NakedAt = now, LastRepair = 0, Repeated = s.Repeated || s.Asked > 0, Asked = 0, Repaired = 0 };
                retryDue = Math.Min(retryDue, s.RetryAt(retryTimeout));
                continue;
            }
            var rounds = s.Rounds;
            var repeated = s.Repeated;
            if (s.Asked > 0)
            {
                // Repairs arrived since the last request: the round trip is fine, some repairs were lost; ask again after
                // one timeout. None arrived: wait twice as long each round.
                var progress = s.LastRepair != 0;
                TimedOut |= !progress;
                rounds = progress ? 1 : s.Rounds + 1;
                repeated = true;
            }
            var asked = s with
            {
                NakedAt = now, LastRepair = 0, Rounds = rounds, Repeated = repeated, Asked = s.AskedNow, Repaired = 0,
                AskedNow = 0, AskedUpTo = 0,
            };
            if (stopped && s.AskedUpTo < s.To && _segments.Count < MaxSegments)
            {
                _segments[i] = asked = asked with { To = s.AskedUpTo };
                var rest = s with { From = s.AskedUpTo + 1, NakedAt = now, LastRepair = 0, Asked = 0, Repaired = 0, AskedNow = 0, AskedUpTo = 0 };
                _segments.Insert(++i, rest);
                retryDue = Math.Min(retryDue, rest.RetryAt(retryTimeout));
            }
            else
            {
                _segments[i] = asked;
            }
            retryDue = Math.Min(retryDue, asked.RetryAt(retryTimeout));
        }
        if (newUpTo > NakedUpTo)
            retryDue = Math.Min(retryDue, Append(NakedUpTo + 1, newUpTo, now, newAsked, retryTimeout));
        if (deferUpTo > NakedUpTo)
            retryDue = Math.Min(retryDue, Append(NakedUpTo + 1, deferUpTo, now, 0, retryTimeout));
        RetryDue = retryDue;
    }

    /// <summary>A new segment <paramref name="from"/>..<paramref name="to"/> asked for (<paramref name="asked"/> packets;
    /// 0: only scheduled) at <paramref name="now"/>; beyond <see cref="MaxSegments"/> it joins the last one. Returns its retry time.</summary>
    private long Append(long from, long to, long now, long asked, long retryTimeout)
    {
        var segment = new Segment { From = from, To = to, NakedAt = now, Rounds = 1, Asked = asked };
        if (_segments.Count < MaxSegments)
            _segments.Add(segment);
        else
            _segments[^1] = _segments[^1] with { To = to, NakedAt = now, LastRepair = 0, Rounds = 1, Asked = _segments[^1].Asked + asked, Repaired = 0 };
        NakedUpTo = to;
        return _segments[^1].RetryAt(retryTimeout);
    }

    /// <summary>Sequences <see cref="From"/> to <see cref="To"/>, asked for (<see cref="Asked"/> packets; 0: only
    /// scheduled) at <see cref="NakedAt"/>; <see cref="LastRepair"/>: when a repair of it last arrived since, of
    /// <see cref="Repaired"/>; <see cref="Rounds"/>: requests in a row without any repair (the back-off);
    /// <see cref="Repeated"/>: asked more than once (its repairs are no round-trip samples). <see cref="AskedUpTo"/> and
    /// <see cref="AskedNow"/>: scratch of one <see cref="Collect"/>.</summary>
    private record struct Segment
    {
        public long From;
        public long To;
        public long NakedAt;
        public long LastRepair;
        public int Rounds;
        public bool Repeated;
        public long Asked;
        public long Repaired;
        public long AskedUpTo;
        public long AskedNow;

        public readonly long RetryAt(long timeout) => Math.Max(NakedAt, LastRepair) + (timeout << Math.Min(Rounds - 1, 3));
    }
}
