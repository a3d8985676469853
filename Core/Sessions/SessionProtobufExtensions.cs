using System.Diagnostics.CodeAnalysis;

namespace Multicast.Sessions;

/// <summary>
/// Typed session values: application objects whose type is a protobuf-net contract (<c>[ProtoContract]</c>, members
/// <c>[ProtoMember(n)]</c>), encoded at protobuf-net's <c>CompatibilityLevel.Level300</c> — the .NET counterpart of
/// "session attributes must be Serializable". A value is measured before it is written: one that would make the session
/// larger than its maximum throws <see cref="SessionTooLargeException"/> at once and changes nothing.
/// </summary>
public static class SessionProtobufExtensions
{
    /// <summary>Stores <paramref name="value"/> under <paramref name="key"/>.</summary>
    /// <param name="session">The request's session (exclusive access).</param>
    /// <param name="key">The attribute's key.</param>
    /// <param name="value">A <c>[ProtoContract]</c> object.</param>
    /// <param name="maxSessionBytes">The session's maximum size (<see cref="SessionOptions.MaxSessionBytes"/>; pass the
    /// manager's <c>Options.MaxSessionBytes</c> when it is not the default).</param>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> is not a protobuf-net contract, or the session is read-only.</exception>
    /// <exception cref="SessionTooLargeException">The session would exceed <paramref name="maxSessionBytes"/>; nothing changed.</exception>
    public static void Set<T>(this Session session, string key, T value, int maxSessionBytes = SessionOptions.DefaultMaxSessionBytes)
    {
        ArgumentNullException.ThrowIfNull(session);
        session.Set(key, ProtobufSessionValues.Encode(value, key, session.Keys, session.TryGetValue, session.Id, maxSessionBytes));
    }

    /// <summary>Reads a value stored by <see cref="Set{T}(Session, string, T, int)"/>.</summary>
    /// <returns>Whether the session holds <paramref name="key"/>.</returns>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> is not a protobuf-net contract.</exception>
    /// <exception cref="InvalidDataException">The stored value is not a <typeparamref name="T"/>.</exception>
    public static bool TryGet<T>(this Session session, string key, [MaybeNullWhen(false)] out T value)
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
