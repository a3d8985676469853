using System.Buffers.Binary;
using Multicast.Tests.TestSupport;
using Multicast.Transport;
using Multicast.Transports.Udp;

namespace Multicast.Tests.Transports.Udp;

/// <summary>Batch sends (sendmmsg, UDP segmentation offload) and batch receives (recvmmsg, UDP_GRO) of the UDP transport.</summary>
[TestFixture]
[Category("Integration")]
public sealed class UdpMulticastTransportBatchTests
{
    private readonly List<UdpMulticastTransport> _transports = [];

    [TearDown]
    public async Task TearDown()
    {
        foreach (var transport in _transports)
            await transport.DisposeAsync();
        _transports.Clear();
    }

    private async Task<(UdpMulticastTransport Transport, RecordingDatagramHandler Handler)> StartAsync(UdpTransportOptions options, bool offload = true)
    {
        var transport = new UdpMulticastTransport(new UdpTransportOptions
        {
            Group = options.Group,
            Port = options.Port,
            Interface = options.Interface,
            DatagramSize = options.DatagramSize,
            Offload = offload,
        });
        _transports.Add(transport);
        var handler = new RecordingDatagramHandler();
        await transport.StartAsync(handler);
        return (transport, handler);
    }

    /// <summary>Runs of equal sizes (segmented), sizes that change at every datagram, runs longer than one segmented
    /// send takes, and more messages than one sendmmsg call carries; each datagram numbered.</summary>
    private static (byte[] Buffer, int[] Lengths) Batch()
    {
        var lengths = new List<int>();
        lengths.AddRange(Enumerable.Repeat(1000, 100));
        lengths.Add(700);
        lengths.AddRange(Enumerable.Range(0, 80).Select(i => 8 + i * 13 % 1300));
        lengths.AddRange(Enumerable.Repeat(300, 150));
        lengths.Add(1400);
        var buffer = new byte[lengths.Sum()];
        var offset = 0;
        for (var i = 0; i < lengths.Count; i++)
        {
            var datagram = buffer.AsSpan(offset, lengths[i]);
            for (var j = 0; j < datagram.Length; j++)
                datagram[j] = (byte)(i * 31 + j);
            BinaryPrimitives.WriteInt32LittleEndian(datagram, i);
            offset += lengths[i];
        }
        return (buffer, lengths.ToArray());
    }

    private static List<byte[]> Split(byte[] buffer, int[] lengths)
    {
        var datagrams = new List<byte[]>();
        var offset = 0;
        foreach (var length in lengths)
        {
            datagrams.Add(buffer.AsSpan(offset, length).ToArray());
            offset += length;
        }
        return datagrams;
    }

    [Test]
    public async Task SendBatchToGroup_MixedSizes_EveryReceiverGetsEachDatagramIntactAndInOrder([Values(true, false)] bool senderOffload, [Values(true, false)] bool receiverOffload)
    {
        var options = UdpTestNetwork.RandomGroup();
        var (sut, _) = await StartAsync(options, senderOffload);
        var receivers = new[] { await StartAsync(options, receiverOffload), await StartAsync(options, receiverOffload) };
        var (buffer, lengths) = Batch();

        sut.SendBatchToGroup(buffer, lengths);

        foreach (var (_, handler) in receivers)
            await Eventually.Until(() => handler.Count >= lengths.Length, $"{lengths.Length} datagrams at every receiver");
        Assert.Multiple(() =>
        {
            foreach (var (_, handler) in receivers)
                Assert.That(handler.Datagrams, Is.EqualTo(Split(buffer, lengths)));
            Assert.That(sut.DatagramsSent, Is.EqualTo(lengths.Length));
            Assert.That(sut.SegmentationOffload, Is.EqualTo(senderOffload && OperatingSystem.IsLinux()));
            Assert.That(receivers[0].Transport.ReceiveOffload, Is.EqualTo(receiverOffload && OperatingSystem.IsLinux()));
        });
    }

    [Test]
    public async Task SendBatchTo_OneMember_OnlyItGetsTheDatagramsInOrder()
    {
        var options = UdpTestNetwork.RandomGroup();
        var (sut, _) = await StartAsync(options);
        var (target, targetHandler) = await StartAsync(options);
        var (_, otherHandler) = await StartAsync(options);
        var (buffer, lengths) = Batch();

        sut.SendBatchTo(target.LocalAddress, buffer, lengths);
        await Eventually.Until(() => targetHandler.Count >= lengths.Length, "the batch at its target");
        // Sent after the batch: once the other member has it, a misrouted datagram of the batch would have arrived too.
        sut.SendToGroup("marker"u8);
        await Eventually.Until(() => otherHandler.Count >= 1, "the marker at the other member");

        Assert.That(targetHandler.Datagrams.Take(lengths.Length), Is.EqualTo(Split(buffer, lengths)));
        Assert.That(otherHandler.Datagrams.Select(d => d.Length), Is.EqualTo(new[] { "marker"u8.Length }));
    }

    [Test]
    public async Task SendBatchToGroup_OnLinux_TakesFarFewerSystemCallsThanDatagrams()
    {
        if (!OperatingSystem.IsLinux())
            Assert.Ignore("sendmmsg(2) and recvmmsg(2) are Linux's.");
        var options = UdpTestNetwork.RandomGroup();
        var (sut, _) = await StartAsync(options);
        var (receiver, handler) = await StartAsync(options);
        var (buffer, lengths) = Batch();

        sut.SendBatchToGroup(buffer, lengths);

        await Eventually.Until(() => handler.Count >= lengths.Length, "the batch");
        Assert.That(sut.SendSystemCalls, Is.LessThanOrEqualTo(lengths.Length / 8), "sendmmsg calls for the batch");
        Assert.That(receiver.ReceiveSystemCalls, Is.LessThan(lengths.Length), "recvmmsg calls for the batch");
    }

    [Test]
    public async Task SendBatchToGroup_BadBatch_ThrowsArgumentExceptionAndSendsNothing()
    {
        var (sut, _) = await StartAsync(UdpTestNetwork.RandomGroup());
        var buffer = new byte[4000];

        Assert.Multiple(() =>
        {
            Assert.That(() => sut.SendBatchToGroup(buffer, [1000, 1401]), Throws.ArgumentException.With.Message.Contains("Cluster:Udp:DatagramSize"));
            Assert.That(() => sut.SendBatchToGroup(buffer, [1400, 1400, 1400]), Throws.ArgumentException.With.Message.Contains("4000"));
            Assert.That(() => sut.SendBatchTo(sut.LocalAddress, buffer, [10, -1]), Throws.ArgumentException);
            Assert.That(() => sut.SendBatchTo("nonsense", buffer, [10]), Throws.ArgumentException.With.Message.Contains("nonsense"));
        });
        Assert.That(sut.DatagramsSent, Is.Zero);
    }

    [Test]
    public async Task HotPath_BatchSendAndReceive_AllocateNothing()
    {
        var options = UdpTestNetwork.RandomGroup();
        var (sut, _) = await StartAsync(options);
        var receiver = new AllocationProbe(warmUp: 640, measured: 3200);
        var peer = new UdpMulticastTransport(options);
        _transports.Add(peer);
        await peer.StartAsync(receiver);
        var buffer = new byte[32 * 256];
        var lengths = Enumerable.Repeat(256, 32).ToArray();
        var address = peer.LocalAddress;

        for (var i = 0; i < 10; i++)
        {
            sut.SendBatchTo(address, buffer, lengths);
            sut.SendBatchToGroup(buffer, lengths);
        }
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 50; i++)
        {
            sut.SendBatchTo(address, buffer, lengths);
            sut.SendBatchToGroup(buffer, lengths);
        }
        var sendAllocated = GC.GetAllocatedBytesForCurrentThread() - before;

        await Eventually.Until(() => receiver.Done, "3840 datagrams at the receiver");
        Assert.That(sendAllocated, Is.Zero, "bytes allocated by 100 batch sends");
        Assert.That(receiver.Allocated, Is.Zero, "bytes allocated on the receive thread for 3200 datagrams");
    }
}
