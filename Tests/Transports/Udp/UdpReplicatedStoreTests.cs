using Multicast.Tests.Stores;
using Multicast.Messaging;
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

    /// <summary>The base timings, with suspicion slow enough that a CPU-starved receive thread on a busy
    /// two-core CI machine is not mistaken for a crash (real sockets and threads, unlike the in-memory hub).</summary>
    protected override GroupChannelOptions ChannelOptions(string nodeId)
    {
        var options = base.ChannelOptions(nodeId);
        options.SuspectTimeout = TimeSpan.FromSeconds(5);
        return options;
    }

    protected override ITransport CreateTransport(int index) => new UdpMulticastTransport(_options);
}
