using Multicast.Transports.ZeroMq;
using static Multicast.Tests.Transports.ZeroMq.ZeroMqTestHelpers;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>libzmq's own reliable multicast (NORM, PGM over UDP) as the group path, on loopback.</summary>
[Category("Integration")]
public sealed class ZeroMqMulticastGroupTests
{
    private readonly List<ZeroMqTransport> _transports = [];

    [TearDown]
    public async Task DisposeTransports()
    {
        foreach (var t in _transports)
            await t.DisposeAsync();
        _transports.Clear();
    }

    private static string RandomGroup() => $"239.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(1, 255)}:{Random.Shared.Next(20_000, 60_000)}";

    [TestCase("norm")]
    [TestCase("epgm")]
    public async Task SendToGroup_MulticastGroupEndpoint_EveryNodeReceivesEveryOther(string scheme)
    {
        Assume.That(Interop.Has(scheme == "epgm" ? "pgm" : scheme), Is.True, $"libzmq built without {scheme}");
        var group = $"{scheme}://127.0.0.1;{RandomGroup()}";
        var nodes = new List<(ZeroMqTransport Transport, RecordingHandler Handler)>();
        for (var i = 0; i < 3; i++)
        {
            var options = LoopbackOptions();
            options.GroupEndpoint = group;
            var t = new ZeroMqTransport(options);
            _transports.Add(t);
            var h = new RecordingHandler();
            await t.StartAsync(h);
            nodes.Add((t, h));
        }
        var datagrams = nodes.Select((_, i) => System.Text.Encoding.ASCII.GetBytes($"{scheme} from {i}")).ToArray();

        // NORM drops what is sent while a session is still starting: resend until every node has every other's.
        var delivered = await Eventually(
            () => nodes.All(n => datagrams.Where((_, i) => nodes[i] != n).All(n.Handler.Has)),
            () =>
            {
                for (var i = 0; i < nodes.Count; i++)
                    nodes[i].Transport.SendToGroup(datagrams[i]);
            });

        Assert.That(delivered, Is.True);
        Assert.That(nodes[0].Transport.PublishAddress, Is.EqualTo(group));
    }

    [TestCase("norm://127.0.0.1;239.1.2.3:5000", true)]
    [TestCase("norm://7,127.0.0.1;239.1.2.3:5000", false)]
    [TestCase("epgm://127.0.0.1;239.1.2.3:5000", false)]
    public void WithNormNodeId_Endpoint_AddsARandomIdOnlyToNormWithoutOne(string group, bool added)
    {
        var sut = ZeroMqTransport.WithNormNodeId(group);

        if (added)
            Assert.That(sut, Does.Match(@"^norm://[1-9][0-9]*,127\.0\.0\.1;239\.1\.2\.3:5000$"));
        else
            Assert.That(sut, Is.EqualTo(group));
    }
}
