using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;

namespace Multicast.Sessions;

/// <summary>
/// Session ids: the owner's ring index as four hex digits, then 128 bits from a CSPRNG in URL-safe
/// base64 (22 characters). The prefix is a hint: the next live node in ring order acts for an absent owner.
/// </summary>
/// <remarks>A store of your own mints the ids of the sessions it creates with <see cref="New"/>: the
/// <see cref="SessionManager"/> looks up only ids of this shape (<see cref="TryParseOwner"/>).</remarks>
public static class SessionIds
{
    /// <summary>The length of a session id, in characters.</summary>
    public const int Length = 4 + 22;

    private static readonly SearchValues<char> UrlSafe = SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");

    /// <summary>A new session id owned by the node with ring index <paramref name="ringIndex"/>
    /// (<see cref="Messaging.Member.RingIndex"/>, 0–65535).</summary>
    public static string New(int ringIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ringIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ringIndex, 0xFFFF);
        Span<byte> random = stackalloc byte[16];
        RandomNumberGenerator.Fill(random);
        Span<char> id = stackalloc char[Length];
        ringIndex.TryFormat(id, out _, "x4", CultureInfo.InvariantCulture);
        Base64Url.EncodeToChars(random, id[4..]);
        return new string(id);
    }

    /// <summary>Whether <paramref name="id"/> has the shape of a session id; a malformed id is never looked up.</summary>
    /// <param name="id">The id, as a client sent it.</param>
    /// <param name="ringIndex">The ring index of the session's owner (a hint: the next live node in ring order acts for
    /// an absent owner).</param>
    public static bool TryParseOwner(string? id, out int ringIndex)
    {
        // Every request checks its id: one vectorized scan of the random part, no per-character loop.
        if (id is null || id.Length != Length || !TryParseIndex(id, out ringIndex) || id.AsSpan(4).ContainsAnyExcept(UrlSafe))
        {
            ringIndex = 0;
            return false;
        }
        return true;
    }

    /// <summary>The owner's ring index in an id of the right length (0 when its first four characters are not hex):
    /// what routing needs, without checking the rest of the id on every lookup.</summary>
    internal static int OwnerIndexOf(string id) => id.Length == Length && TryParseIndex(id, out var ringIndex) ? ringIndex : 0;

    /// <summary>The first four characters as hex digits (either case), as <see cref="New"/> writes them.</summary>
    private static bool TryParseIndex(string id, out int ringIndex)
    {
        ringIndex = 0;
        for (var i = 0; i < 4; i++)
        {
            var digit = HexDigit(id[i]);
            if (digit < 0)
                return false;
            ringIndex = (ringIndex << 4) | digit;
        }
        return true;
    }

    private static int HexDigit(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
