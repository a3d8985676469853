using System.Net.Sockets;
using Multicast.Transport;
using Multicast.Transports.ZeroMq;
using NetMQ;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>The transport contract over NetMQ PUB/SUB + DEALER/ROUTER on loopback TCP, with and without CURVE.</summary>
[TestFixture(false)]
[TestFixture(true)]
[Category("Integration")]
public sealed class ZeroMqTransportContractTests(bool curve) : TransportContractTests
{
    private ZeroMqTestNetwork _network = null!;

    [SetUp]
    public void NewNetwork()
    {
        var key = curve ? new NetMQCertificate().SecretKeyZ85 : null;
        _network = new ZeroMqTestNetwork(o => o.CurveServerSecretKey = key);
    }

    protected override string UnreachableAddress => "tcp://127.0.0.1:9";

    protected override string ReceiveThreadName => ZeroMqTransport.ThreadName;

    protected override ITransport CreateTransport() => _network.CreateTransport();

    /// <summary>The bytes on a fresh TCP connection to the node's ROUTER and to its PUB, then the connection closed:
    /// whatever they are, NetMQ's handshake refuses them.</summary>
    protected override async Task InjectRawAsync(ITransport target, byte[] bytes)
    {
        foreach (var endpoint in new[] { target.LocalAddress, ZeroMqTestNetwork.Inner(target).PublishAddress })
            await ZeroMqTestHelpers.SendRawTcpAsync(endpoint, bytes);
    }
}
