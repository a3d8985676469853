using System.Text;
using Multicast.Messaging.Internal;

namespace Multicast.Tests.Messaging;

public sealed class DatagramProtectorTests
{
    private static readonly byte[] Key = Encoding.UTF8.GetBytes("protector-tests-key-0123456789");

    private static byte[] Packet(string payload)
    {
        var body = Encoding.UTF8.GetBytes(payload);
        var packet = new byte[PacketHeader.Size + body.Length];
        new PacketHeader { Kind = PacketKind.Data, SenderHash = 7, Incarnation = 11, PayloadLength = (ushort)body.Length }.Write(packet);
        body.CopyTo(packet, PacketHeader.Size);
        return packet;
    }

    private static OpenResult Open(DatagramProtector receiver, ReadOnlySpan<byte> datagram, out string payload)
    {
        payload = "";
        if (!PacketHeader.TryRead(datagram, out var header))
            return OpenResult.Malformed;
        var result = receiver.TryOpen(datagram, header, new byte[2048], out var span);
        if (result == OpenResult.Ok)
            payload = Encoding.UTF8.GetString(span);
        return result;
    }

    [Test]
    public void TryOpen_SealedDatagram_ReturnsThePayload([Values(null, false, true)] bool? encrypt)
    {
        using var sender = new DatagramProtector(encrypt is null ? null : Key, encrypt ?? false, 7, 11);
        using var sut = new DatagramProtector(encrypt is null ? null : Key, encrypt ?? false, 8, 12);
        var output = new byte[2048];

        var length = sender.Seal(Packet("hello"), 5, output);

        Assert.That(Open(sut, output.AsSpan(0, length), out var payload), Is.EqualTo(OpenResult.Ok));
        Assert.That(payload, Is.EqualTo("hello"));
    }

    [Test]
    public void TryOpen_AnyFlippedByte_IsForgedOrMalformed([Values(false, true)] bool encrypt)
    {
        using var sender = new DatagramProtector(Key, encrypt, 7, 11);
        using var sut = new DatagramProtector(Key, encrypt, 8, 12);
        var output = new byte[2048];
        var length = sender.Seal(Packet("integrity matters"), 5, output);

        for (var i = 0; i < length; i++)
        {
            var copy = output.AsSpan(0, length).ToArray();
            copy[i] ^= 0x01;
            Assert.That(Open(sut, copy, out _), Is.Not.EqualTo(OpenResult.Ok), $"byte {i}");
        }
    }

    [Test]
    public void TryOpen_Truncated_IsRefused()
    {
        using var sender = new DatagramProtector(Key, false, 7, 11);
        using var sut = new DatagramProtector(Key, false, 8, 12);
        var output = new byte[2048];
        var length = sender.Seal(Packet("cut short"), 5, output);

        Assert.That(Open(sut, output.AsSpan(0, length - 1), out _), Is.EqualTo(OpenResult.Truncated));
    }

    [Test]
    public void TryOpen_KeyedReceiverAndUnkeyedSender_IsForged()
    {
        using var sender = new DatagramProtector(null, false, 7, 11);
        using var sut = new DatagramProtector(Key, false, 8, 12);
        var output = new byte[2048];
        var length = sender.Seal(Packet("no tag"), 5, output);
        // Pad so the length matches what a keyed datagram would have: it still must not verify.
        Assert.That(Open(sut, output.AsSpan(0, length + DatagramProtector.TagSize), out _), Is.EqualTo(OpenResult.Forged));
    }

    [TestCase("c2VjcmV0LXNlY3JldC1zZWNyZXQ=", 20)]
    [TestCase("plain text key of some length", 29)]
    public void ParseKey_Base64OrText_Decodes(string key, int length)
    {
        Assert.That(DatagramProtector.ParseKey(key), Has.Length.EqualTo(length));
    }
}
