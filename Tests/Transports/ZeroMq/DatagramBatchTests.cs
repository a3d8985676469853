using System.Buffers.Binary;
using Multicast.Transports.ZeroMq;

namespace Multicast.Tests.Transports.ZeroMq;

public sealed class DatagramBatchTests
{
    private static byte[] Frame(params byte[][] datagrams)
    {
        var lengths = datagrams.Select(d => d.Length).ToArray();
        var (count, size) = DatagramBatch.Take(lengths, int.MaxValue);
        Assert.That(count, Is.EqualTo(datagrams.Length));
        var frame = new byte[size];
        DatagramBatch.Write(datagrams.SelectMany(d => d).ToArray(), lengths, frame);
        return frame;
    }

    private static (List<byte[]> Datagrams, bool Malformed) Read(byte[] frame, int maxDatagramSize = 1024)
    {
        var result = new List<byte[]>();
        var sut = new DatagramBatch.Reader(frame, maxDatagramSize);
        while (sut.TryNext(out var datagram))
            result.Add(datagram.ToArray());
        return (result, sut.Malformed);
    }

    [Test]
    public void Reader_WrittenFrame_YieldsEveryDatagramInOrder()
    {
        byte[][] datagrams = [[1, 2, 3], [], [4], new byte[1024]];

        var (read, malformed) = Read(Frame(datagrams));

        Assert.That(read, Is.EqualTo(datagrams));
        Assert.That(malformed, Is.False);
    }

    [Test]
    public void Write_Layout_IsALittleEndianLengthBeforeEachDatagram()
    {
        var frame = Frame([7, 8], [9]);

        Assert.That(frame, Is.EqualTo(new byte[] { 2, 0, 0, 0, 7, 8, 1, 0, 0, 0, 9 }));
    }

    // After a good entry: a length past the end of the frame, a negative one, one over the largest datagram (1025),
    // a length cut short.
    [TestCase(new byte[] { 2, 0, 0, 0, 7, 8, 5, 0, 0, 0, 9 })]
    [TestCase(new byte[] { 2, 0, 0, 0, 7, 8, 255, 255, 255, 255 })]
    [TestCase(new byte[] { 2, 0, 0, 0, 7, 8, 1, 4, 0, 0, 9 })]
    [TestCase(new byte[] { 2, 0, 0, 0, 7, 8, 1, 0 })]
    public void Reader_BadEntryAfterAGoodOne_DeliversTheGoodOneAndIsMalformed(byte[] frame)
    {
        var (read, malformed) = Read(frame);

        Assert.That(read, Is.EqualTo(new[] { new byte[] { 7, 8 } }));
        Assert.That(malformed, Is.True);
    }

    [Test]
    public void Reader_RandomGarbage_NeverThrowsNorYieldsMoreThanTheFrameHolds()
    {
        var random = new Random(12);
        for (var i = 0; i < 2_000; i++)
        {
            var frame = new byte[random.Next(0, 64)];
            random.NextBytes(frame);
            if (frame.Length >= 4 && random.Next(2) == 0)
                BinaryPrimitives.WriteInt32LittleEndian(frame, random.Next(0, frame.Length));

            var (read, _) = Read(frame, maxDatagramSize: 64);

            Assert.That(read.Sum(d => d.Length + DatagramBatch.LengthPrefix), Is.LessThanOrEqualTo(frame.Length));
        }
    }

    [Test]
    public void Take_MoreThanAFrameHolds_StopsBeforeTheLimit()
    {
        int[] lengths = [1000, 1000, 1000, 1000];

        var (count, size) = DatagramBatch.Take(lengths, 3 * 1004);

        Assert.That((count, size), Is.EqualTo((3, 3 * 1004)));
    }

    [Test]
    public void Take_FirstDatagramOverTheLimit_TakesItAlone()
    {
        int[] lengths = [5000, 10];

        var (count, _) = DatagramBatch.Take(lengths, 4096);

        Assert.That(count, Is.EqualTo(1));
    }

    [Test]
    public void FrameLimit_LargestDatagramOverSixtyFourKiB_IsTheLargestDatagram()
    {
        Assert.That(DatagramBatch.FrameLimit(1024), Is.EqualTo(64 * 1024));
        Assert.That(DatagramBatch.FrameLimit(200_000), Is.EqualTo(200_000));
    }

    [Test]
    public void IsMarker_OnlyTheExactMarker()
    {
        Assert.That(DatagramBatch.IsMarker("MCZD\u0001"u8), Is.True);
        Assert.That(DatagramBatch.IsMarker("MCZD\u0002"u8), Is.False);
        Assert.That(DatagramBatch.IsMarker("MCZD\u0001x"u8), Is.False);
        Assert.That(DatagramBatch.IsMarker([]), Is.False);
    }
}
