using System.Buffers.Binary;
using System.Diagnostics;

namespace Multicast.NetProbe;

/// <summary>The probe's messages: message i carries i, the moment it was sent (a Stopwatch timestamp: the clock is the
/// same in every process and network namespace of a host) and a pattern derived from i, so a receiver checks order,
/// uniqueness and content without any shared state, and measures how long delivery took.</summary>
internal static class ProbeMessages
{
    /// <summary>Bytes before the pattern: the index and the send timestamp.</summary>
    public const int HeaderSize = 16;

    public static int SizeOf(long index, int largeEvery, int largeSize) =>
        largeEvery > 0 && index % largeEvery == largeEvery - 1 ? largeSize : HeaderSize + (int)(index * 37 % 900);

    public static byte[] Create(long index, int size)
    {
        var message = new byte[size];
        BinaryPrimitives.WriteInt64LittleEndian(message, index);
        for (var i = HeaderSize; i < size; i++)
            message[i] = Pattern(index, i);
        return message;
    }

    /// <summary>Stamps the send moment into <paramref name="message"/>.</summary>
    public static void Stamp(byte[] message) => BinaryPrimitives.WriteInt64LittleEndian(message.AsSpan(8), Stopwatch.GetTimestamp());

    /// <summary>How long ago <paramref name="message"/> was stamped, in Stopwatch ticks.</summary>
    public static long AgeOf(ReadOnlySpan<byte> message) => Stopwatch.GetTimestamp() - BinaryPrimitives.ReadInt64LittleEndian(message[8..]);

    /// <summary>Null when <paramref name="message"/> is message <paramref name="expected"/>, else what is wrong.</summary>
    public static string? Check(ReadOnlySpan<byte> message, long expected, int expectedSize)
    {
        if (message.Length < HeaderSize)
            return $"message of {message.Length} bytes, expected #{expected}";
        var index = BinaryPrimitives.ReadInt64LittleEndian(message);
        if (index != expected)
            return index < expected ? $"duplicate or reordered: got #{index} after #{expected - 1}" : $"gap: got #{index}, expected #{expected}";
        if (message.Length != expectedSize)
            return $"#{index} has {message.Length} bytes, expected {expectedSize}";
        for (var i = HeaderSize; i < message.Length; i++)
        {
            if (message[i] != Pattern(index, i))
                return $"#{index} corrupt at byte {i}";
        }
        return null;
    }

    private static byte Pattern(long index, int offset) => (byte)(index * 7 + offset);
}
