using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.Stores;
using Multicast.Transport;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>The ClusterStore contract, ring store, over ZeroMQ (NetMQ) on loopback TCP.</summary>
[Category("Integration")]
public sealed class ZeroMqRingStoreTests : ClusterStoreContractTests
{
    private ZeroMqTestNetwork _network = new();

    [SetUp]
    public void CreateNetwork() => _network = new ZeroMqTestNetwork();

    protected override ITransport CreateTransport(int index) => _network.CreateTransport();

    protected override IClusterStore CreateStore(IGroupChannel channel, ClusterStoreOptions options, TimeProvider time) =>
        new RingClusterStore(channel, options, time);
}
