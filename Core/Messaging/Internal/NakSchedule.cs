namespace Multicast.Messaging.Internal;

/// <summary>
/// What one receive stream asked its sender to repair, and when: a list of contiguous segments of sequences, each
/// NAKed at one moment. A missing packet is asked for once when its gap is found, and again only when its segment saw
/// no repair for a whole retry timeout (doubling with each round, up to 8 timeouts): repairs still on their way are not
/// asked for twice, a burst loss is repaired in rounds paced by the round trip, and a lost repair is asked for again
/// a timeout after the last repair of its round arrived. No I/O, no clock: times are passed in (timestamps).
/// Not thread-safe (under the channel lock).
/// </summary>
internal sealed class NakSchedule
{
    /// <summary>Segments kept at most; beyond it, new gaps join the last one.</summary>
    public const int MaxSegments = 64;

    private readonly List<Segment> _segments = [];

    /// <summary>The highest sequence any NAK covered (0: none yet); gaps above it are new.</summary>
    public long NakedUpTo { get; private set; }

    /// <summary>When a missing packet above <see cref="NakedUpTo"/> was first seen (0: there is none).</summary>
    public long NewGapSince { get; set; }

    /// <summary>Conservatively the earliest moment a segment's retry may be due (<see cref="long.MaxValue"/>: none).</summary>
    public long RetryDue { get; private set; } = long.MaxValue;

    public int SegmentCount => _segments.Count;

    /// <summary>Whether the last <see cref="Collect"/> asked for something a second time (or more).</summary>
    public bool Repeated { get; private set; }

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
    /// A missing packet arrived. Returns 1 when a NAK had asked for it (a repair; its segment now waits a full timeout
    /// from <paramref name="now"/> before asking again), 0 when none had (it was late: the network reorders).
    /// <paramref name="roundTrip"/> is the NAK → repair time when this is the first repair answering a first request.
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
            if (segment.Rounds == 1 && segment.LastRepair == 0)
                roundTrip = now - segment.NakedAt;
            segment.LastRepair = now;
            _segments[i] = segment;
            break;
        }
        return true;
    }

    /// <summary>When the next NAK may be due: the new gap's reorder guard, or <see cref="RetryDue"/>.</summary>
    public long NextDue(long guard) => Math.Min(NewGapSince != 0 ? NewGapSince + guard : long.MaxValue, RetryDue);

    /// <summary>
    /// Picks what to ask for now, in sequence order: when <paramref name="retries"/>, the missing packets of every segment
    /// whose retry is due; when <paramref name="newGapsDue"/>, those above <see cref="NakedUpTo"/>. Writes at most
    /// <paramref name="ranges"/>.Length ranges, records them as asked for at <paramref name="now"/>, and returns how many.
    /// </summary>
    public int Collect(ref MissingRanges missing, long now, bool newGapsDue, bool retries, long retryTimeout, Span<(long From, long To)> ranges)
    {
        var count = 0;
        var segment = 0;
        var newUpTo = 0L;
        var full = false;
        while (!full && missing.Next(out var from, out var to))
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
                    if (count == ranges.Length)
                    {
                        full = true;
                        break;
                    }
                    ranges[count++] = (low, high);
                    s.AskedUpTo = high;
                    _segments[segment] = s;
                }
                low = high + 1;
            }
            if (full || to <= NakedUpTo)
                continue;
            if (!newGapsDue)
                break; // everything further is new, and new gaps wait for their guard
            if (count == ranges.Length)
            {
                full = true;
                break;
            }
            ranges[count++] = (Math.Max(from, NakedUpTo + 1), to);
            newUpTo = to;
        }
        Record(now, newUpTo, complete: !full, newGapsDue, retries, retryTimeout);
        return count;
    }

    /// <summary>Marks the segments that were asked for (splitting one asked for only in part) and appends the new gaps.
    /// After a complete walk, a due segment that was not asked for has nothing missing: it rests a timeout.</summary>
    private void Record(long now, long newUpTo, bool complete, bool newGapsDue, bool retries, long retryTimeout)
    {
        var retryDue = long.MaxValue;
        Repeated = false;
        for (var i = 0; i < _segments.Count; i++)
        {
            var s = _segments[i];
            if (s.AskedUpTo == 0)
            {
                if (complete && retries && now >= s.RetryAt(retryTimeout))
                    _segments[i] = s = s with { NakedAt = now, LastRepair = 0 };
                retryDue = Math.Min(retryDue, s.RetryAt(retryTimeout));
                continue;
            }
            Repeated = true;
            var asked = s with { NakedAt = now, LastRepair = 0, Rounds = s.Rounds + 1, AskedUpTo = 0, To = Math.Max(s.AskedUpTo, s.From) };
            if (s.AskedUpTo < s.To && _segments.Count < MaxSegments)
            {
                _segments[i] = asked;
                var rest = s with { From = s.AskedUpTo + 1, AskedUpTo = 0 };
                _segments.Insert(i + 1, rest);
                retryDue = Math.Min(retryDue, rest.RetryAt(retryTimeout));
                i++;
            }
            else
            {
                _segments[i] = asked = asked with { To = s.To };
            }
            retryDue = Math.Min(retryDue, asked.RetryAt(retryTimeout));
        }
        if (newUpTo > NakedUpTo)
        {
            var segment = new Segment { From = NakedUpTo + 1, To = newUpTo, NakedAt = now, Rounds = 1 };
            if (_segments.Count < MaxSegments)
                _segments.Add(segment);
            else
                _segments[^1] = _segments[^1] with { To = newUpTo, NakedAt = now, LastRepair = 0, Rounds = 1 };
            retryDue = Math.Min(retryDue, _segments[^1].RetryAt(retryTimeout));
            NakedUpTo = newUpTo;
        }
        RetryDue = retryDue;
        if (complete && newGapsDue)
            NewGapSince = 0;
    }

    /// <summary>Sequences <see cref="From"/> to <see cref="To"/>, asked for at <see cref="NakedAt"/> (the
    /// <see cref="Rounds"/>th time); <see cref="LastRepair"/>: when a repair of it last arrived.</summary>
    private record struct Segment
    {
        public long From;
        public long To;
        public long NakedAt;
        public long LastRepair;
        public int Rounds;
        public long AskedUpTo;

        public readonly long RetryAt(long timeout) => Math.Max(NakedAt, LastRepair) + (timeout << Math.Min(Rounds - 1, 3));
    }
}
