using Multicast.Tests.Stores;
using Multicast.Transport;
using Multicast.Transports.Udp;

namespace Multicast.Tests.Transports.Udp;

/// <summary>The ClusterStore contract, replicated store, three nodes over real UDP multicast on loopback.</summary>
[TestFixture]
[Category("Integration")]
public sealed class UdpReplicatedStoreTests : ClusterStoreContractTests
{
    private UdpTransportOptions _options = null!;

    [SetUp]
    public void NewGroup() => _options = UdpTestNetwork.RandomGroup();

    protected override ITransport CreateTransport(int index) => new UdpMulticastTransport(_options);
}
