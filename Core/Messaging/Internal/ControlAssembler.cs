namespace Multicast.Messaging.Internal;

/// <summary>
/// Reassembles control messages (View, Join) sent in several datagrams. Fragments of repeated copies of one
/// message accumulate, so a large view reaches a lossy receiver after a few retransmissions instead of needing
/// every fragment of one copy. Bounded: few messages in progress, each of bounded size. Receive thread only.
/// </summary>
/// <remarks>A message is split into <c>count</c> fragments of <c>ceil(total / count)</c> bytes (the last one
/// shorter); each fragment's header carries the message's id (<c>sequence</c>), its total length (<c>message
/// sequence</c>), its index and the count.</remarks>
internal sealed class ControlAssembler
{
    /// <summary>The most fragments one control message may have (about 4,000 members at 1,400-byte datagrams).</summary>
    public const int MaxFragments = 256;

    private const int MaxInProgress = 16;

    private readonly Dictionary<(MemberKey Sender, PacketKind Kind), Assembly> _open = [];
    private long _clock;

    /// <summary>The fragment size for a message of <paramref name="total"/> bytes in <paramref name="count"/> fragments.</summary>
    public static int ChunkSize(int total, int count) => (total + count - 1) / count;

    /// <summary>How many fragments a message of <paramref name="total"/> bytes needs with <paramref name="capacity"/> bytes per datagram.</summary>
    public static int FragmentCount(int total, int capacity) => Math.Max(1, (total + capacity - 1) / capacity);

    /// <summary>
    /// Adds one fragment. Returns <see cref="AssemblyResult.Complete"/> with the whole message when it was the last
    /// one missing; <see cref="AssemblyResult.Malformed"/> when the fragment contradicts its own header.
    /// </summary>
    public AssemblyResult Add(MemberKey sender, in PacketHeader header, ReadOnlySpan<byte> fragment, int maxTotal, out byte[] message)
    {
        message = [];
        var count = (int)Math.Min(header.FragmentCount, int.MaxValue);
        var total = header.MessageSequence;
        if (count is < 2 or > MaxFragments || header.FragmentIndex >= header.FragmentCount || total < count || total > maxTotal)
            return AssemblyResult.Malformed;
        var chunk = ChunkSize((int)total, count);
        var index = (int)header.FragmentIndex;
        var offset = index * chunk;
        var expected = Math.Min(chunk, (int)total - offset);
        if (expected <= 0 || fragment.Length != expected)
            return AssemblyResult.Malformed;
        var key = (sender, header.Kind);
        if (!_open.TryGetValue(key, out var assembly) || assembly.Id != header.Sequence || assembly.Total != total || assembly.Have.Length != count)
        {
            if (assembly is null && _open.Count >= MaxInProgress)
                EvictOldest();
            assembly = new Assembly(header.Sequence, (int)total, count);
            _open[key] = assembly;
        }
        assembly.Touched = ++_clock;
        if (assembly.Have[index])
            return AssemblyResult.Incomplete;
        fragment.CopyTo(assembly.Buffer.AsSpan(offset));
        assembly.Have[index] = true;
        if (++assembly.Received < count)
            return AssemblyResult.Incomplete;
        _open.Remove(key);
        message = assembly.Buffer;
        return AssemblyResult.Complete;
    }

    /// <summary>Forgets what a sender had in progress (it left, or the message no longer matters).</summary>
    public void Forget(MemberKey sender, PacketKind kind) => _open.Remove((sender, kind));

    private void EvictOldest()
    {
        var oldest = default((MemberKey, PacketKind));
        var at = long.MaxValue;
        foreach (var (key, assembly) in _open)
        {
            if (assembly.Touched < at)
            {
                at = assembly.Touched;
                oldest = key;
            }
        }
        _open.Remove(oldest);
    }

    private sealed class Assembly(long id, int total, int count)
    {
        public long Id { get; } = id;
        public int Total { get; } = total;
        public byte[] Buffer { get; } = new byte[total];
        public bool[] Have { get; } = new bool[count];
        public int Received { get; set; }
        public long Touched { get; set; }
    }
}

/// <summary>The outcome of <see cref="ControlAssembler.Add"/>.</summary>
internal enum AssemblyResult
{
    Incomplete,
    Complete,
    Malformed,
}
