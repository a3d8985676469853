using System.Text;
using Multicast.Transports.ZeroMq;
using static Multicast.Tests.Transports.ZeroMq.ZeroMqTestHelpers;

namespace Multicast.Tests.Transports.ZeroMq;

public sealed class ZeroMqBeaconTests
{
    [TestCase("MCZB", 1, "tcp://127.0.0.1:5555", true)]
    [TestCase("MCZB", 2, "tcp://127.0.0.1:5555", false)]
    [TestCase("XXXX", 1, "tcp://127.0.0.1:5555", false)]
    [TestCase("MCZB", 1, "http://127.0.0.1:5555", false)]
    [TestCase("MCZB", 1, "", false)]
    public void TryParse_Datagram_AcceptsOnlyVersion1Endpoints(string magic, byte version, string text, bool valid)
    {
        byte[] datagram = [.. Encoding.ASCII.GetBytes(magic), version, .. Encoding.UTF8.GetBytes(text)];

        var ok = ZeroMqBeacon.TryParse(datagram, out var endpoint);

        Assert.That(ok, Is.EqualTo(valid));
        if (valid)
            Assert.That(endpoint, Is.EqualTo("tcp://127.0.0.1:5555"));
    }

    [Test]
    [Category("Integration")]
    public async Task StartAsync_BeaconOnAnAddressThatIsNotLocal_ThrowsNamingTheBeaconKeys()
    {
        var options = LoopbackOptions();
        options.BeaconEnabled = true;
        options.BeaconPort = Random.Shared.Next(20_000, 60_000);
        options.BeaconInterface = "192.0.2.1"; // TEST-NET-1: never a local interface
        var sut = new ZeroMqTransport(options);
        try
        {
            var e = Assert.ThrowsAsync<InvalidOperationException>(async () => await sut.StartAsync(new RecordingHandler()));

            Assert.That(e!.Message, Does.Contain("192.0.2.1").And.Contain("Cluster:ZeroMq:BeaconGroup, BeaconPort and BeaconInterface"));
        }
        finally
        {
            await sut.DisposeAsync();
        }
    }

    [Test]
    [Category("Integration")]
    public async Task BeaconEnabled_NoStaticPeers_NodesDiscoverEachOther()
    {
        var group = $"239.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(1, 255)}";
        var port = Random.Shared.Next(20_000, 60_000);
        var nodes = new List<(ZeroMqTransport Transport, RecordingHandler Handler)>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var options = LoopbackOptions();
                options.BeaconEnabled = true;
                options.BeaconGroup = group;
                options.BeaconPort = port;
                options.BeaconInterval = TimeSpan.FromMilliseconds(100);
                var t = new ZeroMqTransport(options);
                var h = new RecordingHandler();
                nodes.Add((t, h));
                await t.StartAsync(h);
            }
            var a = "from a"u8.ToArray();
            var b = "from b"u8.ToArray();

            var discovered = await Eventually(
                () => nodes[1].Handler.Has(a) && nodes[0].Handler.Has(b),
                () =>
                {
                    nodes[0].Transport.SendToGroup(a);
                    nodes[1].Transport.SendToGroup(b);
                });

            Assert.That(discovered, Is.True);
        }
        finally
        {
            foreach (var (t, _) in nodes)
                await t.DisposeAsync();
        }
    }
}
