using System.Buffers.Binary;
using System.Text;

namespace Multicast.Bench.SessionCost;

/// <summary>Attributes as one blob (count, then key length, key, value length, value): what the database and dictionary baselines keep per session.</summary>
internal static class SessionCodec
{
    public static byte[] Encode(IReadOnlyDictionary<string, byte[]> attributes)
    {
        var size = 4 + attributes.Sum(a => 8 + Encoding.UTF8.GetByteCount(a.Key) + a.Value.Length);
        var blob = new byte[size];
        var span = blob.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(span, attributes.Count);
        var at = 4;
        foreach (var (key, value) in attributes)
        {
            var keyLength = Encoding.UTF8.GetBytes(key, span[(at + 4)..]);
            BinaryPrimitives.WriteInt32LittleEndian(span[at..], keyLength);
            at += 4 + keyLength;
            BinaryPrimitives.WriteInt32LittleEndian(span[at..], value.Length);
            value.CopyTo(span[(at + 4)..]);
            at += 4 + value.Length;
        }
        return blob;
    }

    public static Dictionary<string, byte[]> Decode(ReadOnlySpan<byte> blob)
    {
        var count = BinaryPrimitives.ReadInt32LittleEndian(blob);
        var attributes = new Dictionary<string, byte[]>(count, StringComparer.Ordinal);
        var at = 4;
        for (var i = 0; i < count; i++)
        {
            var keyLength = BinaryPrimitives.ReadInt32LittleEndian(blob[at..]);
            var key = Encoding.UTF8.GetString(blob.Slice(at + 4, keyLength));
            at += 4 + keyLength;
            var valueLength = BinaryPrimitives.ReadInt32LittleEndian(blob[at..]);
            attributes[key] = blob.Slice(at + 4, valueLength).ToArray();
            at += 4 + valueLength;
        }
        return attributes;
    }

    public static int ReadCount(IReadOnlyDictionary<string, byte[]> attributes) =>
        attributes.TryGetValue("count", out var v) && v.Length == 4 ? BinaryPrimitives.ReadInt32BigEndian(v) : 0;

    public static byte[] CountValue(int count)
    {
        var value = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(value, count);
        return value;
    }
}
