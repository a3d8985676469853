using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;
using Multicast.Sessions;

namespace Multicast.AspNetCore;

/// <summary>
/// Typed values on <c>HttpContext.Session</c>: objects whose type is a protobuf-net contract (<c>[ProtoContract]</c>,
/// members <c>[ProtoMember(n)]</c>), encoded at protobuf-net's <c>CompatibilityLevel.Level300</c>, the same encoding as
/// <see cref="SessionProtobufExtensions"/> on <see cref="Session"/>. A value is measured before it is written: one that
/// would make the session larger than <see cref="SessionOptions.MaxSessionBytes"/> throws
/// <see cref="SessionTooLargeException"/> (the clustered session answers 413) and changes nothing.
/// </summary>
public static class HttpSessionProtobufExtensions
{
    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>.</summary>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> is not a protobuf-net contract, or the
    /// endpoint's session access does not allow writes.</exception>
    /// <exception cref="SessionTooLargeException">The session would exceed its maximum size (the clustered session's
    /// <see cref="SessionOptions.MaxSessionBytes"/>; <see cref="SessionOptions.DefaultMaxSessionBytes"/> for another
    /// <see cref="ISession"/>); nothing changed.</exception>
    public static void Set<T>(this ISession session, string key, T value)
    {
        ArgumentNullException.ThrowIfNull(session);
        var (id, max) = session is ClusteredHttpSession clustered
            ? (clustered.Current?.Id ?? string.Empty, clustered.MaxSessionBytes)
            : (string.Empty, SessionOptions.DefaultMaxSessionBytes);
        session.Set(key, ProtobufSessionValues.Encode(value, key, session.Keys, session.TryGetValue, id, max));
    }

    /// <summary>Reads a value stored by <see cref="Set{T}(ISession, string, T)"/>.</summary>
    /// <returns>Whether the session holds <paramref name="key"/>.</returns>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> is not a protobuf-net contract.</exception>
    /// <exception cref="InvalidDataException">The stored value is not a <typeparamref name="T"/>.</exception>
    public static bool TryGet<T>(this ISession session, string key, [MaybeNullWhen(false)] out T value)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(key);
        if (session.TryGetValue(key, out var bytes))
        {
            value = ProtobufSessionValues.Decode<T>(bytes, key);
            return true;
        }
        value = default;
        return false;
    }
}
