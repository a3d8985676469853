using System.Buffers.Binary;
using System.Text;

namespace Multicast.Messaging.Internal;

/// <summary>Reads control payloads; every read reports truncation instead of throwing.</summary>
internal ref struct PayloadReader(ReadOnlySpan<byte> buffer)
{
    private readonly ReadOnlySpan<byte> _buffer = buffer;
    private int _position;

    public bool TryReadByte(out byte value)
    {
        value = 0;
        if (_buffer.Length - _position < 1)
            return false;
        value = _buffer[_position++];
        return true;
    }

    public bool TryReadUInt16(out ushort value)
    {
        value = 0;
        if (_buffer.Length - _position < 2)
            return false;
        value = BinaryPrimitives.ReadUInt16LittleEndian(_buffer[_position..]);
        _position += 2;
        return true;
    }

    public bool TryReadUInt32(out uint value)
    {
        value = 0;
        if (_buffer.Length - _position < 4)
            return false;
        value = BinaryPrimitives.ReadUInt32LittleEndian(_buffer[_position..]);
        _position += 4;
        return true;
    }

    public bool TryReadInt64(out long value)
    {
        value = 0;
        if (_buffer.Length - _position < 8)
            return false;
        value = BinaryPrimitives.ReadInt64LittleEndian(_buffer[_position..]);
        _position += 8;
        return true;
    }

    public bool TryReadString(out string value)
    {
        value = string.Empty;
        if (!TryReadUInt16(out var length) || _buffer.Length - _position < length)
            return false;
        try
        {
            value = StrictUtf8.GetString(_buffer.Slice(_position, length));
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
        _position += length;
        return true;
    }

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);
}
