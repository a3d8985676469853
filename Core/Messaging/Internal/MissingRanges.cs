namespace Multicast.Messaging.Internal;

/// <summary>The ranges of sequences missing from a stream between a start and its highest known packet, in order:
/// the gaps between the packets held after a gap. A struct enumerator, so walking them allocates nothing.</summary>
internal struct MissingRanges
{
    private SortedDictionary<long, BufferedPacket>.KeyCollection.Enumerator _held;
    private readonly long _highest;
    private long _cursor;
    private bool _heldLeft;

    public MissingRanges(SortedDictionary<long, BufferedPacket> held, long from, long highest)
    {
        _held = held.Keys.GetEnumerator();
        _heldLeft = true;
        _cursor = from;
        _highest = highest;
    }

    /// <summary>The highest known packet: no range goes beyond it.</summary>
    public readonly long Highest => _highest;

    /// <summary>The next missing range, <paramref name="from"/> to <paramref name="to"/> inclusive; false when there is none.</summary>
    public bool Next(out long from, out long to)
    {
        while (_cursor <= _highest)
        {
            if (_heldLeft && !_held.MoveNext())
                _heldLeft = false;
            if (!_heldLeft)
            {
                from = _cursor;
                to = _highest;
                _cursor = _highest + 1;
                return true;
            }
            var seq = _held.Current;
            if (seq < _cursor)
                continue;
            if (seq > _cursor)
            {
                from = _cursor;
                to = Math.Min(seq - 1, _highest);
                _cursor = seq + 1;
                return true;
            }
            _cursor = seq + 1;
        }
        from = to = 0;
        return false;
    }
}
