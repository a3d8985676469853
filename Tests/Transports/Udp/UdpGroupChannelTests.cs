using Multicast.Tests.Messaging;
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

    protected override ITransport CreateTransport() => new UdpMulticastTransport(_options);
}
