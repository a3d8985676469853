using Multicast.Tests.Messaging;
using Multicast.Transport;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>The group channel contract over ZeroMQ PUB/SUB + PUSH/PULL on loopback TCP, free ports.</summary>
[Category("Integration")]
public sealed class ZeroMqGroupChannelTests : GroupChannelContractTests
{
    private ZeroMqTestNetwork _network = null!;

    [SetUp]
    public void CreateNetwork() => _network = new ZeroMqTestNetwork();

    protected override ITransport CreateTransport() => _network.CreateTransport();
}
