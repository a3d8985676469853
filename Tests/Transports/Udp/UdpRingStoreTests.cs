using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.Stores;
using Multicast.Transport;
using Multicast.Transports.Udp;

namespace Multicast.Tests.Transports.Udp;

/// <summary>The ClusterStore contract, ring store, over real UDP multicast on loopback.</summary>
[TestFixture]
[Category("Integration")]
public sealed class UdpRingStoreTests : ClusterStoreContractTests
{
    private UdpTransportOptions _options = null!;

    [SetUp]
    public void NewGroup() => _options = UdpTestNetwork.RandomGroup();

    /// <summary>As <see cref="UdpReplicatedStoreTests"/>: suspicion slow enough for a CPU-starved CI machine.</summary>
    protected override GroupChannelOptions ChannelOptions(string nodeId)
    {
        var options = base.ChannelOptions(nodeId);
        options.SuspectTimeout = TimeSpan.FromSeconds(5);
        return options;
    }

    protected override ITransport CreateTransport(int index) => new UdpMulticastTransport(_options);

    protected override IClusterStore CreateStore(IGroupChannel channel, ClusterStoreOptions options, TimeProvider time) =>
        new RingClusterStore(channel, options, time);
}
