using System.Buffers.Binary;
using System.Text;

namespace Multicast.Messaging.Internal;

/// <summary>Writes control payloads; throws when the span is too small (callers size their buffers).</summary>
internal ref struct PayloadWriter(Span<byte> buffer)
{
    private readonly Span<byte> _buffer = buffer;

    public int Position { get; private set; }

    public readonly int Remaining => _buffer.Length - Position;

    public void WriteByte(byte value)
    {
        _buffer[Position] = value;
        Position++;
    }

    public void WriteUInt16(ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer[Position..], value);
        Position += 2;
    }

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer[Position..], value);
        Position += 4;
    }

    public void WriteInt64(long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(_buffer[Position..], value);
        Position += 8;
    }

    public void WriteString(string value)
    {
        var length = Encoding.UTF8.GetBytes(value, _buffer[(Position + 2)..]);
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer[Position..], checked((ushort)length));
        Position += 2 + length;
    }

    public static int SizeOf(string value) => 2 + Encoding.UTF8.GetByteCount(value);
}
