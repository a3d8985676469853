namespace Multicast.Messaging.Internal;

/// <summary>FNV-1a over UTF-16 code units: stable across processes and platforms (unlike string.GetHashCode).</summary>
internal static class Fnv
{
    public static uint Hash32(string value)
    {
        uint hash = 2166136261;
        foreach (var c in value)
        {
            hash = (hash ^ (byte)c) * 16777619;
            hash = (hash ^ (byte)(c >> 8)) * 16777619;
        }
        return hash;
    }
}
