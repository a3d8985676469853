using Multicast.Messaging.Internal;

namespace Multicast.Tests.Messaging;

public sealed class PacketHeaderTests
{
    private static PacketHeader Sample() => new()
    {
        Kind = PacketKind.UnicastData,
        Flags = PacketHeader.FlagAuthenticated,
        PayloadLength = 1234,
        ClusterHash = 0xDEADBEEF,
        SenderHash = 0x01020304,
        Incarnation = long.MaxValue - 7,
        Counter = 42,
        Sequence = 1L << 40,
        MessageSequence = (1L << 40) + 3,
        FragmentIndex = 17,
        FragmentCount = 3000,
        TargetIncarnation = 99,
        StreamEpoch = long.MaxValue - 11,
    };

    [Test]
    public void TryRead_WrittenHeader_RoundTripsEveryField()
    {
        var sut = Sample();
        var buffer = new byte[PacketHeader.Size];

        sut.Write(buffer);

        Assert.That(PacketHeader.TryRead(buffer, out var read), Is.True);
        Assert.That(read, Is.EqualTo(sut));
    }

    [Test]
    public void Write_Magic_IsMCAndVersionTwo()
    {
        var buffer = new byte[PacketHeader.Size];

        Sample().Write(buffer);

        Assert.That(buffer[..3], Is.EqualTo(new byte[] { (byte)'M', (byte)'C', 2 }));
    }

    [Test]
    public void Write_StreamEpoch_IsTheLastEightBytesOfThe72ByteHeader()
    {
        var buffer = new byte[PacketHeader.Size];

        Sample().Write(buffer);

        Assert.That(PacketHeader.Size, Is.EqualTo(72));
        Assert.That(System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(64)), Is.EqualTo(long.MaxValue - 11));
    }

    [Test]
    public void TryRead_StartRequest_IsAKnownKind()
    {
        var buffer = new byte[PacketHeader.Size];
        (Sample() with { Kind = PacketKind.StartRequest }).Write(buffer);

        Assert.That(PacketHeader.TryRead(buffer, out var read), Is.True);
        Assert.That(read.Kind, Is.EqualTo(PacketKind.StartRequest));
    }

    [TestCase(0, (byte)'X', TestName = "TryRead_BadMagic_IsRefused")]
    [TestCase(2, (byte)1, TestName = "TryRead_VersionOne_IsRefused")]
    [TestCase(2, (byte)3, TestName = "TryRead_UnknownVersion_IsRefused")]
    [TestCase(3, (byte)0, TestName = "TryRead_KindZero_IsRefused")]
    [TestCase(3, (byte)14, TestName = "TryRead_KindAfterStartRequest_IsRefused")]
    [TestCase(3, (byte)200, TestName = "TryRead_UnknownKind_IsRefused")]
    [TestCase(5, (byte)1, TestName = "TryRead_ReservedByteSet_IsRefused")]
    public void TryRead_Malformed_IsRefused(int offset, byte value)
    {
        var buffer = new byte[PacketHeader.Size];
        Sample().Write(buffer);
        buffer[offset] = value;

        Assert.That(PacketHeader.TryRead(buffer, out _), Is.False);
    }

    [TestCase(0)]
    [TestCase(1)]
    [TestCase(PacketHeader.Size - 1)]
    public void TryRead_Truncated_IsRefused(int length)
    {
        var buffer = new byte[PacketHeader.Size];
        Sample().Write(buffer);

        Assert.That(PacketHeader.TryRead(buffer.AsSpan(0, length), out _), Is.False);
    }
}
