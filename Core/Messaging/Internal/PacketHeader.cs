using System.Buffers.Binary;

namespace Multicast.Messaging.Internal;

/// <summary>
/// The fixed 72-byte header of every datagram (layout in docs/wire-format.md). Little-endian.
/// </summary>
internal struct PacketHeader
{
    public const int Size = 72;
    public const ushort Magic = 0x434D; // "MC" on the wire
    public const byte CurrentVersion = 2; // 2: the stream epoch

    public const int FlagsOffset = 4;
    public const int CounterOffset = 24;

    public const byte FlagAuthenticated = 1;
    public const byte FlagEncrypted = 2;

    public PacketKind Kind;
    public byte Flags;
    public ushort PayloadLength;
    public uint ClusterHash;
    public uint SenderHash;
    public long Incarnation;
    public long Counter;
    public long Sequence;
    public long MessageSequence;
    public uint FragmentIndex;
    public uint FragmentCount;
    public long TargetIncarnation;

    /// <summary>The epoch of the stream the datagram belongs to or is about (data, Tail, Ack, Nak, StreamStart,
    /// Heartbeat: the broadcast stream's); 0 for membership datagrams.</summary>
    public long StreamEpoch;

    public readonly void Write(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, Magic);
        destination[2] = CurrentVersion;
        destination[3] = (byte)Kind;
        destination[4] = Flags;
        destination[5] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], PayloadLength);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[8..], ClusterHash);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[12..], SenderHash);
        BinaryPrimitives.WriteInt64LittleEndian(destination[16..], Incarnation);
        BinaryPrimitives.WriteInt64LittleEndian(destination[24..], Counter);
        BinaryPrimitives.WriteInt64LittleEndian(destination[32..], Sequence);
        BinaryPrimitives.WriteInt64LittleEndian(destination[40..], MessageSequence);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[48..], FragmentIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[52..], FragmentCount);
        BinaryPrimitives.WriteInt64LittleEndian(destination[56..], TargetIncarnation);
        BinaryPrimitives.WriteInt64LittleEndian(destination[64..], StreamEpoch);
    }

    /// <summary>Parses the header; false when the span is too short, or the magic, version or kind is unknown.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out PacketHeader header)
    {
        header = default;
        if (source.Length < Size
            || BinaryPrimitives.ReadUInt16LittleEndian(source) != Magic
            || source[2] != CurrentVersion
            || source[3] is < (byte)PacketKind.Data or > (byte)PacketKind.StartRequest
            || source[5] != 0)
        {
            return false;
        }
        header.Kind = (PacketKind)source[3];
        header.Flags = source[4];
        header.PayloadLength = BinaryPrimitives.ReadUInt16LittleEndian(source[6..]);
        header.ClusterHash = BinaryPrimitives.ReadUInt32LittleEndian(source[8..]);
        header.SenderHash = BinaryPrimitives.ReadUInt32LittleEndian(source[12..]);
        header.Incarnation = BinaryPrimitives.ReadInt64LittleEndian(source[16..]);
        header.Counter = BinaryPrimitives.ReadInt64LittleEndian(source[24..]);
        header.Sequence = BinaryPrimitives.ReadInt64LittleEndian(source[32..]);
        header.MessageSequence = BinaryPrimitives.ReadInt64LittleEndian(source[40..]);
        header.FragmentIndex = BinaryPrimitives.ReadUInt32LittleEndian(source[48..]);
        header.FragmentCount = BinaryPrimitives.ReadUInt32LittleEndian(source[52..]);
        header.TargetIncarnation = BinaryPrimitives.ReadInt64LittleEndian(source[56..]);
        header.StreamEpoch = BinaryPrimitives.ReadInt64LittleEndian(source[64..]);
        return true;
    }

    public static void WritePayloadLength(Span<byte> packet, int length) =>
        BinaryPrimitives.WriteUInt16LittleEndian(packet[6..], checked((ushort)length));
}
