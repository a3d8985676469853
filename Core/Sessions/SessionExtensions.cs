using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Multicast.Sessions;

/// <summary>Typed helpers over a session's byte values (the encodings ASP.NET Core's session extensions use).</summary>
public static class SessionExtensions
{
    /// <summary>Stores a string as UTF-8.</summary>
    public static void SetString(this Session session, string key, string value) =>
        session.Set(key, Encoding.UTF8.GetBytes(value));

    /// <summary>Reads a UTF-8 string, or <see langword="null"/> when absent.</summary>
    public static string? GetString(this Session session, string key) =>
        session.TryGetValue(key, out var v) ? Encoding.UTF8.GetString(v) : null;

    /// <summary>Stores a 32-bit integer, big-endian.</summary>
    public static void SetInt32(this Session session, string key, int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        session.Set(key, bytes);
    }

    /// <summary>Reads a 32-bit integer, or <see langword="null"/> when absent or not four bytes.</summary>
    public static int? GetInt32(this Session session, string key) =>
        session.TryGetValue(key, out var v) && v.Length == 4 ? BinaryPrimitives.ReadInt32BigEndian(v) : null;

    /// <summary>Stores a value as JSON.</summary>
    public static void SetJson<T>(this Session session, string key, T value, JsonSerializerOptions? options = null) =>
        session.Set(key, JsonSerializer.SerializeToUtf8Bytes(value, options));

    /// <summary>Reads a JSON value, or <see langword="default"/> when absent.</summary>
    public static T? GetJson<T>(this Session session, string key, JsonSerializerOptions? options = null) =>
        session.TryGetValue(key, out var v) ? JsonSerializer.Deserialize<T>(v, options) : default;
}
