using Multicast.Tests.Messaging;
using Multicast.Messaging;
using Multicast.Transport;
using Multicast.Transports.Udp;

namespace Multicast.Tests.Transports.Udp;

/// <summary>The group channel contract over real UDP multicast on loopback (a random group and port per test).</summary>
[TestFixture]
[Category("Integration")]
public sealed class UdpGroupChannelTests : GroupChannelContractTests
{
    private UdpTransportOptions _options = null!;

    [SetUp]
    public void NewGroup() => _options = UdpTestNetwork.RandomGroup();

    /// <summary>The base timings, with suspicion slow enough that a CPU-starved receive thread on a busy
    /// two-core CI machine is not mistaken for a crash (real sockets and threads, unlike the in-memory hub).</summary>
    protected override GroupChannelOptions CreateOptions(string nodeId)
    {
        var options = base.CreateOptions(nodeId);
        options.SuspectTimeout = TimeSpan.FromSeconds(5);
        return options;
    }

    protected override ITransport CreateTransport() => new UdpMulticastTransport(_options);
}
