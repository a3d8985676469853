using System.Buffers.Binary;

namespace Multicast.NetProbe;

/// <summary>The probe's messages: message i carries i and a pattern derived from i, so a receiver checks order,
/// uniqueness and content without any shared state.</summary>
internal static class ProbeMessages
{
    public static int SizeOf(long index, int largeEvery, int largeSize) =>
        largeEvery > 0 && index % largeEvery == largeEvery - 1 ? largeSize : 16 + (int)(index * 37 % 900);

    public static byte[] Create(long index, int size)
    {
        var message = new byte[size];
        BinaryPrimitives.WriteInt64LittleEndian(message, index);
        for (var i = 8; i < size; i++)
            message[i] = Pattern(index, i);
        return message;
    }

    /// <summary>Null when <paramref name="message"/> is message <paramref name="expected"/>, else what is wrong.</summary>
    public static string? Check(ReadOnlySpan<byte> message, long expected, int expectedSize)
    {
        if (message.Length < 8)
            return $"message of {message.Length} bytes, expected #{expected}";
        var index = BinaryPrimitives.ReadInt64LittleEndian(message);
        if (index != expected)
            return index < expected ? $"duplicate or reordered: got #{index} after #{expected - 1}" : $"gap: got #{index}, expected #{expected}";
        if (message.Length != expectedSize)
            return $"#{index} has {message.Length} bytes, expected {expectedSize}";
        for (var i = 8; i < message.Length; i++)
        {
            if (message[i] != Pattern(index, i))
                return $"#{index} corrupt at byte {i}";
        }
        return null;
    }

    private static byte Pattern(long index, int offset) => (byte)(index * 7 + offset);
}
