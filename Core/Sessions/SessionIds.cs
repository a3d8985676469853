using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;

namespace Multicast.Sessions;

/// <summary>
/// Session ids: the owner's ring index as four hex digits, then 128 bits from a CSPRNG in URL-safe
/// base64 (22 characters). The prefix is a hint: the next live node in ring order acts for an absent owner.
/// </summary>
internal static class SessionIds
{
    public const int Length = 4 + 22;

    public static string New(int ringIndex)
    {
        Span<byte> random = stackalloc byte[16];
        RandomNumberGenerator.Fill(random);
        Span<char> id = stackalloc char[Length];
        ringIndex.TryFormat(id, out _, "x4", CultureInfo.InvariantCulture);
        Base64Url.EncodeToChars(random, id[4..]);
        return new string(id);
    }

    /// <summary>Whether <paramref name="id"/> has the shape of a session id; a malformed id is never looked up.</summary>
    public static bool TryParseOwner(string? id, out int ringIndex)
    {
        ringIndex = 0;
        if (id is null || id.Length != Length)
            return false;
        if (!int.TryParse(id.AsSpan(0, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ringIndex))
            return false;
        foreach (var c in id.AsSpan(4))
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_'))
                return false;
        }
        return true;
    }
}
