using System.Text;
using Microsoft.Extensions.Logging;
using Multicast.Tests.TestSupport;
using Multicast.Transport;
using Multicast.Transports.Udp;

namespace Multicast.Tests.Transports.Udp;

[TestFixture]
[Category("Integration")]
public sealed class UdpMulticastTransportTests
{
    private readonly List<UdpMulticastTransport> _transports = [];

    [TearDown]
    public async Task TearDown()
    {
        foreach (var transport in _transports)
            await transport.DisposeAsync();
        _transports.Clear();
    }

    private async Task<(UdpMulticastTransport Transport, RecordingDatagramHandler Handler)> StartAsync(UdpTransportOptions options, RecordingDatagramHandler? handler = null, ILogger<UdpMulticastTransport>? logger = null)
    {
        var transport = new UdpMulticastTransport(options, logger);
        _transports.Add(transport);
        handler ??= new RecordingDatagramHandler();
        await transport.StartAsync(handler);
        return (transport, handler);
    }

    [Test]
    public async Task SendToGroup_ThreeTransports_EveryOtherTransportReceivesEveryDatagram()
    {
        var options = UdpTestNetwork.RandomGroup();
        var nodes = new[] { await StartAsync(options), await StartAsync(options), await StartAsync(options) };
        var (sut, own) = nodes[0];

        for (var i = 0; i < 50; i++)
            sut.SendToGroup(Encoding.UTF8.GetBytes($"group-{i}"));

        foreach (var (_, handler) in nodes.Skip(1))
            await Eventually.Until(() => handler.Count >= 50, "50 group datagrams at every other transport");
        // Sent after the group datagrams: once it is in, the sender's own copies would have been read too.
        nodes[1].Transport.SendTo(sut.LocalAddress, "marker"u8);
        await Eventually.Until(() => own.Contains("marker"u8.ToArray()), "the marker at the sender");
        Assert.Multiple(() =>
        {
            foreach (var (_, handler) in nodes.Skip(1))
                Assert.That(handler.Datagrams.Select(d => Encoding.UTF8.GetString(d)), Is.EquivalentTo(Enumerable.Range(0, 50).Select(i => $"group-{i}")));
            Assert.That(sut.DatagramsSent, Is.EqualTo(50));
            Assert.That(nodes[2].Transport.DatagramsReceived, Is.EqualTo(50));
            Assert.That(own.Count, Is.EqualTo(1), "the sender hears only the marker, not its own group datagrams");
        });
    }

    [Test]
    public async Task StartAsync_OnLinux_FiltersOwnGroupDatagramsInTheKernel()
    {
        var (sut, _) = await StartAsync(UdpTestNetwork.RandomGroup());

        Assert.That(sut.OwnDatagramsFiltered, Is.EqualTo(OperatingSystem.IsLinux()));
    }

    [Test]
    public async Task StartAsync_Started_LocalAddressIsTheUnicastEndpointOnTheInterface()
    {
        var (sut, _) = await StartAsync(UdpTestNetwork.RandomGroup());

        Assert.That(sut.LocalAddress, Does.Match(@"^127\.0\.0\.1:[1-9][0-9]*$"));
    }

    [Test]
    public async Task SendToGroup_Oversize_ThrowsArgumentException([Values(1400, 9000)] int datagramSize)
    {
        var (sut, _) = await StartAsync(UdpTestNetwork.RandomGroup(datagramSize));
        var datagram = new byte[datagramSize + 1];

        Assert.That(sut.MaxDatagramSize, Is.EqualTo(datagramSize));
        Assert.That(() => sut.SendToGroup(datagram), Throws.ArgumentException.With.Message.Contains("Cluster:Udp:DatagramSize"));
        Assert.That(() => sut.SendTo(sut.LocalAddress, datagram), Throws.ArgumentException);
        Assert.That(sut.DatagramsSent, Is.Zero);
    }

    [Test]
    public async Task SendToGroup_LargestDatagram_ArrivesWhole()
    {
        var options = UdpTestNetwork.RandomGroup(60000);
        var (sut, _) = await StartAsync(options);
        var (_, handler) = await StartAsync(options);
        var datagram = new byte[60000];
        Random.Shared.NextBytes(datagram);

        sut.SendToGroup(datagram);

        await Eventually.Until(() => handler.Count >= 1, "the 60000-byte datagram");
        Assert.That(handler.Datagrams.Single(), Is.EqualTo(datagram));
    }

    [Test]
    public async Task SendTo_NotAnAddress_ThrowsArgumentException([Values("nonsense", "127.0.0.1", "127.0.0.1:0", "[::1]:5000")] string address)
    {
        var (sut, _) = await StartAsync(UdpTestNetwork.RandomGroup());

        Assert.That(() => sut.SendTo(address, "x"u8), Throws.ArgumentException.With.Message.Contains(address));
    }

    [Test]
    public async Task OnDatagram_HandlerThrows_ErrorIsCountedAndLaterDatagramsArrive()
    {
        var logger = new CapturingLogger<UdpMulticastTransport>();
        var handler = new RecordingDatagramHandler { ThrowWhen = d => d[0] == (byte)'!' };
        var (sut, _) = await StartAsync(UdpTestNetwork.RandomGroup(), handler, logger);

        sut.SendTo(sut.LocalAddress, "!boom"u8);
        await Eventually.Until(() => sut.HandlerErrors == 1, "the handler failure to be counted");
        sut.SendTo(sut.LocalAddress, "after"u8);

        await Eventually.Until(() => handler.Contains("after"u8.ToArray()), "a datagram after the failure");
        Assert.That(logger.Entries.Any(e => e.Level == LogLevel.Error), Is.True);
    }

    [Test]
    public async Task StartAsync_BufferAboveKernelLimit_WarnsNamingTheSysctl()
    {
        var logger = new CapturingLogger<UdpMulticastTransport>();
        var options = UdpTestNetwork.RandomGroup();
        // Far above any sane net.core.rmem_max / wmem_max: the kernel clamps it.
        options.ReceiveBufferBytes = 1 << 29;
        options.SendBufferBytes = 1 << 29;

        var (sut, _) = await StartAsync(options, logger: logger);

        var warnings = logger.Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message).ToList();
        Assert.That(warnings, Has.Some.Contains("net.core.rmem_max"));
        Assert.That(warnings, Has.Some.Contains("net.core.wmem_max"));
        Assert.That(sut.ReceiveBufferBytes, Is.LessThan(1 << 29).And.GreaterThan(0));
    }

    [Test]
    public async Task StartAsync_InterfaceNotOnThisHost_FailsNamingTheInterfaceSetting()
    {
        var options = UdpTestNetwork.RandomGroup();
        options.Interface = "192.0.2.77"; // TEST-NET-1: never assigned to a host.
        var sut = new UdpMulticastTransport(options);
        _transports.Add(sut);

        var error = Assert.ThrowsAsync<InvalidOperationException>(async () => await sut.StartAsync(new RecordingDatagramHandler()));

        Assert.That(error!.Message, Does.Contain("Cluster:Udp:Interface"));
        // Nothing stays half-started: another attempt fails for the same reason, not as "already started".
        Assert.That(async () => await sut.StartAsync(new RecordingDatagramHandler()),
            Throws.InvalidOperationException.With.Message.Contains("Cluster:Udp:Interface"));
    }

    [Test]
    public async Task StartAsync_Twice_Throws()
    {
        var (sut, _) = await StartAsync(UdpTestNetwork.RandomGroup());

        Assert.That(async () => await sut.StartAsync(new RecordingDatagramHandler()), Throws.InvalidOperationException);
    }

    [Test]
    public async Task DisposeAsync_Twice_StopsOnceAndLaterSendsAreDropped()
    {
        var (sut, handler) = await StartAsync(UdpTestNetwork.RandomGroup());

        await sut.DisposeAsync();
        await sut.DisposeAsync();

        Assert.That(() => sut.SendToGroup("late"u8), Throws.Nothing);
        Assert.That(sut.DatagramsSent, Is.Zero);
        Assert.That(() => sut.StartAsync(handler), Throws.TypeOf<ObjectDisposedException>());
    }

    [Test]
    public async Task HotPath_SendAndReceive_AllocateNothingPerDatagram()
    {
        var options = UdpTestNetwork.RandomGroup();
        var (sut, _) = await StartAsync(options);
        var receiver = new AllocationProbe(warmUp: 200, measured: 1000);
        var peer = new UdpMulticastTransport(options);
        _transports.Add(peer);
        await peer.StartAsync(receiver);
        var datagram = new byte[256];
        var address = peer.LocalAddress;

        for (var i = 0; i < 200; i++)
        {
            sut.SendTo(address, datagram);
            sut.SendToGroup(datagram);
        }
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 500; i++)
        {
            sut.SendTo(address, datagram);
            sut.SendToGroup(datagram);
        }
        var sendAllocated = GC.GetAllocatedBytesForCurrentThread() - before;

        await Eventually.Until(() => receiver.Done, "1200 datagrams at the receiver");
        Assert.That(sendAllocated, Is.Zero, "bytes allocated by 1000 sends");
        Assert.That(receiver.Allocated, Is.Zero, "bytes allocated on the receive thread for 1000 datagrams");
    }
}
