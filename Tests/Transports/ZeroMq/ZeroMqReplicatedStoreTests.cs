using Multicast.Tests.Stores;
using Multicast.Transport;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>The ClusterStore contract, replicated store, over ZeroMQ on loopback TCP.</summary>
[Category("Integration")]
public sealed class ZeroMqReplicatedStoreTests : ClusterStoreContractTests
{
    private ZeroMqTestNetwork _network = new();

    [SetUp]
    public void CreateNetwork() => _network = new ZeroMqTestNetwork();

    protected override ITransport CreateTransport(int index) => _network.CreateTransport();
}
