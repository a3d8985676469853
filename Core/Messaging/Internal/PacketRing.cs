namespace Multicast.Messaging.Internal;

/// <summary>The unacknowledged packets of one stream, contiguous by sequence, oldest first (a growable ring).</summary>
internal sealed class PacketRing
{
    private OutPacket?[] _items = new OutPacket?[64];
    private int _head;

    public int Count { get; private set; }

    public long FirstSequence => Count == 0 ? 0 : _items[_head]!.Sequence;

    public void Add(OutPacket packet)
    {
        if (Count == _items.Length)
        {
            var grown = new OutPacket?[_items.Length * 2];
            for (var i = 0; i < Count; i++)
                grown[i] = _items[(_head + i) % _items.Length];
            _items = grown;
            _head = 0;
        }
        _items[(_head + Count) % _items.Length] = packet;
        Count++;
    }

    public OutPacket? Find(long sequence)
    {
        if (Count == 0)
            return null;
        var offset = sequence - FirstSequence;
        return offset < 0 || offset >= Count ? null : _items[(int)((_head + offset) % _items.Length)];
    }

    public OutPacket Peek() => _items[_head]!;

    public OutPacket RemoveFirst()
    {
        var packet = _items[_head]!;
        _items[_head] = null;
        _head = (_head + 1) % _items.Length;
        Count--;
        return packet;
    }
}
