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
        if (!HasShape(id))
        {
            ringIndex = 0;
            return false;
        }
        ringIndex = OwnerIndexOf(id!);
        return true;
    }

    /// <summary>The owner's ring index in an id of the right length (0 when its first four characters are not hex):
    /// what routing needs, without checking the rest of the id on every lookup.</summary>
    internal static int OwnerIndexOf(string id) =>
        id.Length == Length && int.TryParse(id.AsSpan(0, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var ringIndex) ? ringIndex : 0;

    private static bool HasShape(string? id)
    {
        if (id is null || id.Length != Length || !int.TryParse(id.AsSpan(0, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out _))
            return false;
        foreach (var c in id.AsSpan(4))
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_'))
                return false;
        }
        return true;
    }
}
