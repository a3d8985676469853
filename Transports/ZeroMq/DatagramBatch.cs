using System.Buffers.Binary;

namespace Multicast.Transports.ZeroMq;

/// <summary>
/// The wire layout of several datagrams in one ZeroMQ message (a batch): two frames, the first exactly
/// <see cref="Marker"/> (<c>MCZD</c>, version 1), the second the datagrams back to back, each preceded by its length
/// as a 4-byte little-endian integer. NetMQ's cost is mostly per message (a pipe write, a wakeup, a frame to encode,
/// decode and receive), hardly per byte. A batch carries at least two datagrams (one goes as a plain single frame) and its second
/// frame at most <see cref="FrameLimit"/> bytes.
/// </summary>
/// <remarks>A received batch is read entry by entry: an entry whose length is negative, over the largest datagram or
/// past the end of the frame ends it (what came before it is delivered; the rest is dropped and counted once).</remarks>
internal static class DatagramBatch
{
    /// <summary>The bytes in front of every datagram in the second frame.</summary>
    public const int LengthPrefix = 4;

    /// <summary>The first frame of a batch: ASCII <c>MCZD</c> and the layout's version, 1.</summary>
    public static ReadOnlySpan<byte> Marker => "MCZD\u0001"u8;

    // Batches are kept to messages of about the size of the largest default datagram: the high-water marks count
    // messages, so this bounds what a full queue holds.
    private const int DefaultFrameLimit = 64 * 1024;

    /// <summary>The largest second frame a node sends, and (with CURVE's framing) the largest frame its receiving
    /// sockets accept: 64 KiB, or the largest datagram when that is more.</summary>
    public static int FrameLimit(int maxDatagramSize) => Math.Max(DefaultFrameLimit, maxDatagramSize);

    /// <summary>How many of <paramref name="lengths"/>, from the first, fit one batch frame of at most
    /// <paramref name="frameLimit"/> bytes (at least one), and the frame's size.</summary>
    public static (int Count, int FrameSize) Take(ReadOnlySpan<int> lengths, int frameLimit)
    {
        var size = LengthPrefix + lengths[0];
        var count = 1;
        while (count < lengths.Length && size + LengthPrefix + lengths[count] <= frameLimit)
            size += LengthPrefix + lengths[count++];
        return (count, size);
    }

    /// <summary>Writes <paramref name="lengths"/>.Length datagrams, stored back to back in <paramref name="datagrams"/>,
    /// into <paramref name="frame"/> (exactly <see cref="Take"/>'s size).</summary>
    public static void Write(ReadOnlySpan<byte> datagrams, ReadOnlySpan<int> lengths, Span<byte> frame)
    {
        foreach (var length in lengths)
        {
            BinaryPrimitives.WriteInt32LittleEndian(frame, length);
            datagrams[..length].CopyTo(frame[LengthPrefix..]);
            frame = frame[(LengthPrefix + length)..];
            datagrams = datagrams[length..];
        }
    }

    /// <summary>Whether a received frame is the batch marker.</summary>
    public static bool IsMarker(ReadOnlySpan<byte> frame) => frame.SequenceEqual(Marker);

    /// <summary>Reads the datagrams of a batch's second frame, in order.</summary>
    public ref struct Reader(ReadOnlySpan<byte> frame, int maxDatagramSize)
    {
        private ReadOnlySpan<byte> _rest = frame;

        /// <summary>Whether the frame ended inside an entry or had one that is not a datagram: the rest was skipped.</summary>
        public bool Malformed { get; private set; }

        /// <summary>The next datagram; false at the end of the frame or at a malformed entry.</summary>
        public bool TryNext(out ReadOnlySpan<byte> datagram)
        {
            datagram = default;
            if (_rest.IsEmpty || Malformed)
                return false;
            if (_rest.Length < LengthPrefix)
                return Fail();
            var length = BinaryPrimitives.ReadInt32LittleEndian(_rest);
            if (length < 0 || length > maxDatagramSize || length > _rest.Length - LengthPrefix)
                return Fail();
            datagram = _rest.Slice(LengthPrefix, length);
            _rest = _rest[(LengthPrefix + length)..];
            return true;
        }

        private bool Fail()
        {
            Malformed = true;
            _rest = default;
            return false;
        }
    }
}
