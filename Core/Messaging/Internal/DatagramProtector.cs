using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Multicast.Messaging.Internal;

/// <summary>
/// Seals outgoing datagrams (HMAC-SHA256 truncated to 16 bytes, or AES-GCM) and opens incoming ones.
/// </summary>
/// <remarks>
/// AES-GCM keys are derived per sender incarnation (HKDF over the cluster key, the sender's node hash and its
/// incarnation), so the nonce only has to be unique per sender incarnation: it is the datagram counter, which
/// never repeats. The header is authenticated (additional data) but stays readable, so a receiver can route
/// and reject before decrypting.
/// </remarks>
internal sealed class DatagramProtector : IDisposable
{
    public const int TagSize = 16;
    private const int NonceSize = 12;

    private readonly byte[]? _clusterKey;
    private readonly byte[]? _macKey;
    private readonly bool _encrypt;
    private readonly AesGcm? _sendAead;
    private readonly Dictionary<MemberKey, AesGcm> _receiveAeads = [];

    public DatagramProtector(byte[]? clusterKey, bool encrypt, uint localHash, long localIncarnation)
    {
        _clusterKey = clusterKey;
        _encrypt = encrypt && clusterKey is not null;
        if (clusterKey is not null)
        {
            _macKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, clusterKey, 32, info: Encoding.ASCII.GetBytes("multicast hmac v1"));
            if (_encrypt)
                _sendAead = CreateAead(new MemberKey(localHash, localIncarnation));
        }
    }

    /// <summary>Bytes added to every datagram.</summary>
    public int Overhead => _clusterKey is null ? 0 : TagSize;

    public bool HasKey => _clusterKey is not null;

    /// <summary>
    /// Copies <paramref name="packet"/> (header and plaintext payload) into <paramref name="output"/> with the
    /// counter set, then authenticates or encrypts it. Returns the datagram length. Callers serialize calls.
    /// </summary>
    public int Seal(ReadOnlySpan<byte> packet, long counter, Span<byte> output)
    {
        packet.CopyTo(output);
        BinaryPrimitives.WriteInt64LittleEndian(output[PacketHeader.CounterOffset..], counter);
        if (_clusterKey is null)
        {
            output[PacketHeader.FlagsOffset] = 0;
            return packet.Length;
        }
        if (!_encrypt)
        {
            output[PacketHeader.FlagsOffset] = PacketHeader.FlagAuthenticated;
            Span<byte> mac = stackalloc byte[32];
            HMACSHA256.HashData(_macKey, output[..packet.Length], mac);
            mac[..TagSize].CopyTo(output[packet.Length..]);
            return packet.Length + TagSize;
        }
        output[PacketHeader.FlagsOffset] = PacketHeader.FlagAuthenticated | PacketHeader.FlagEncrypted;
        Span<byte> nonce = stackalloc byte[NonceSize];
        nonce.Clear();
        BinaryPrimitives.WriteInt64LittleEndian(nonce, counter);
        var header = output[..PacketHeader.Size];
        var plaintext = packet[PacketHeader.Size..];
        _sendAead!.Encrypt(nonce, plaintext, output.Slice(PacketHeader.Size, plaintext.Length),
            output.Slice(packet.Length, TagSize), header);
        return packet.Length + TagSize;
    }

    /// <summary>
    /// Verifies (and decrypts) a datagram whose header parsed. The payload is a slice of
    /// <paramref name="datagram"/>, or of <paramref name="scratch"/> when it was decrypted. Receive thread only.
    /// </summary>
    public OpenResult TryOpen(ReadOnlySpan<byte> datagram, in PacketHeader header, Span<byte> scratch, out ReadOnlySpan<byte> payload)
    {
        payload = default;
        if (_clusterKey is not null && header.Flags == 0)
            return OpenResult.Forged; // untagged: not from a member that holds the key
        var expected = PacketHeader.Size + header.PayloadLength + Overhead;
        if (datagram.Length != expected)
            return datagram.Length < expected ? OpenResult.Truncated : OpenResult.Malformed;
        if (_clusterKey is null)
        {
            if (header.Flags != 0)
                return OpenResult.Forged; // a keyed sender: we cannot check it, so we do not trust it
            payload = datagram.Slice(PacketHeader.Size, header.PayloadLength);
            return OpenResult.Ok;
        }
        var body = datagram[..(PacketHeader.Size + header.PayloadLength)];
        var tag = datagram.Slice(body.Length, TagSize);
        if (!_encrypt)
        {
            if (header.Flags != PacketHeader.FlagAuthenticated)
                return OpenResult.Forged;
            Span<byte> mac = stackalloc byte[32];
            HMACSHA256.HashData(_macKey, body, mac);
            if (!CryptographicOperations.FixedTimeEquals(mac[..TagSize], tag))
                return OpenResult.Forged;
            payload = body[PacketHeader.Size..];
            return OpenResult.Ok;
        }
        if (header.Flags != (PacketHeader.FlagAuthenticated | PacketHeader.FlagEncrypted))
            return OpenResult.Forged;
        var aead = ReceiveAead(new MemberKey(header.SenderHash, header.Incarnation));
        Span<byte> nonce = stackalloc byte[NonceSize];
        nonce.Clear();
        BinaryPrimitives.WriteInt64LittleEndian(nonce, header.Counter);
        var plain = scratch[..header.PayloadLength];
        try
        {
            aead.Decrypt(nonce, body[PacketHeader.Size..], tag, plain, datagram[..PacketHeader.Size]);
        }
        catch (AuthenticationTagMismatchException)
        {
            return OpenResult.Forged;
        }
        payload = plain;
        return OpenResult.Ok;
    }

    private AesGcm ReceiveAead(MemberKey sender)
    {
        if (_receiveAeads.TryGetValue(sender, out var aead))
            return aead;
        if (_receiveAeads.Count >= 1024)
        {
            // Forged datagrams can name any sender; keep the cache bounded.
            foreach (var stale in _receiveAeads.Values)
                stale.Dispose();
            _receiveAeads.Clear();
        }
        aead = CreateAead(sender);
        _receiveAeads[sender] = aead;
        return aead;
    }

    private AesGcm CreateAead(MemberKey sender)
    {
        Span<byte> info = stackalloc byte[16 + 4 + 8];
        Encoding.ASCII.GetBytes("multicast aead 1", info);
        BinaryPrimitives.WriteUInt32LittleEndian(info[16..], sender.Hash);
        BinaryPrimitives.WriteInt64LittleEndian(info[20..], sender.Incarnation);
        Span<byte> key = stackalloc byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, _clusterKey, key, [], info);
        return new AesGcm(key, TagSize);
    }

    /// <summary>Parses a configured key: base64 when it decodes to at least 16 bytes, else its UTF-8 text.</summary>
    public static byte[]? ParseKey(string? key)
    {
        if (string.IsNullOrEmpty(key))
            return null;
        var buffer = new byte[key.Length];
        // Convert ignores whitespace; a key with spaces is text.
        if (!key.Any(char.IsWhiteSpace) && Convert.TryFromBase64String(key, buffer, out var written) && written >= 16)
            return buffer[..written];
        return Encoding.UTF8.GetBytes(key);
    }

    public void Dispose()
    {
        _sendAead?.Dispose();
        foreach (var aead in _receiveAeads.Values)
            aead.Dispose();
        _receiveAeads.Clear();
    }
}

/// <summary>The outcome of <see cref="DatagramProtector.TryOpen"/>.</summary>
internal enum OpenResult
{
    Ok,
    Truncated,
    Malformed,
    Forged,
}
