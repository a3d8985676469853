using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using ProtoBuf;
using ProtoBuf.Meta;

namespace Multicast.Sessions;

/// <summary>
/// The encoding of typed session values: protobuf-net contracts (<c>[ProtoContract]</c> types) at
/// <see cref="CompatibilityLevel.Level300"/>, measured before they are written so that a value that would make the
/// session larger than its maximum never reaches the store. Shared by <see cref="SessionProtobufExtensions"/> and the
/// ASP.NET Core <c>ISession</c> extensions.
/// </summary>
internal static class ProtobufSessionValues
{
    /// <summary>A model of our own, so the application's <see cref="RuntimeTypeModel.Default"/> settings do not change the encoding.</summary>
    private static readonly RuntimeTypeModel Model = CreateModel();

    private static readonly ConcurrentDictionary<Type, bool> Contracts = new();

    /// <summary>Reads an attribute of the session.</summary>
    public delegate bool TryRead(string key, [NotNullWhen(true)] out byte[]? value);

    /// <summary>Encodes <paramref name="value"/> for <paramref name="key"/>, refusing it when the session would then
    /// exceed <paramref name="maxSessionBytes"/> (its other attributes counted from <paramref name="keys"/>).</summary>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> is not a protobuf-net contract.</exception>
    /// <exception cref="SessionTooLargeException">The session would be too large; nothing was written.</exception>
    public static byte[] Encode<T>(T value, string key, IEnumerable<string> keys, TryRead read, string sessionId, int maxSessionBytes)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(key);
        EnsureContract(typeof(T));
        var others = 0L;
        foreach (var k in keys)
        {
            if (!string.Equals(k, key, StringComparison.Ordinal) && read(k, out var v))
                others += SessionState.SizeOf(k, v);
        }
        var keyBytes = SessionState.SizeOf(key, []);
        using var measured = Model.Measure(value);
        var size = others + keyBytes + measured.Length;
        if (size > maxSessionBytes)
            throw new SessionTooLargeException(sessionId, size, maxSessionBytes);
        var bytes = new byte[measured.Length];
        using (var stream = new MemoryStream(bytes, writable: true))
            measured.Serialize(stream);
        return bytes;
    }

    /// <summary>Decodes a value written by <see cref="Encode{T}"/>.</summary>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> is not a protobuf-net contract.</exception>
    /// <exception cref="InvalidDataException">The stored bytes are not a <typeparamref name="T"/>.</exception>
    public static T Decode<T>(byte[] bytes, string key)
    {
        EnsureContract(typeof(T));
        try
        {
            return Model.Deserialize<T>(new ReadOnlyMemory<byte>(bytes));
        }
        catch (Exception ex) when (ex is ProtoException or EndOfStreamException or InvalidOperationException or OverflowException)
        {
            throw new InvalidDataException($"Session value '{key}' ({bytes.Length} bytes) is not a valid {typeof(T).FullName}: {ex.Message}", ex);
        }
    }

    private static void EnsureContract(Type type)
    {
        if (!Contracts.GetOrAdd(type, static t => Attribute.IsDefined(t, typeof(ProtoContractAttribute), inherit: false)))
        {
            throw new InvalidOperationException(
                $"Type '{type.FullName}' is not a protobuf-net contract, so it cannot be a typed session value: mark it [ProtoContract] " +
                "and its members [ProtoMember(n)] (protobuf-net), or store it with SetJson or SetString.");
        }
    }

    private static RuntimeTypeModel CreateModel()
    {
        var model = RuntimeTypeModel.Create("Multicast.Sessions");
        model.DefaultCompatibilityLevel = CompatibilityLevel.Level300;
        return model;
    }
}
