using System.Net;
using System.Net.Sockets;
using Multicast.Transport;
using Multicast.Transports.Udp;

namespace Multicast.Tests.Transports.Udp;

/// <summary>The transport contract over real UDP multicast on loopback, a random group and port per test.</summary>
[TestFixture]
[Category("Integration")]
public sealed class UdpTransportContractTests : TransportContractTests
{
    private UdpTransportOptions _options = null!;

    [SetUp]
    public void NewGroup() => _options = UdpTestNetwork.RandomGroup();

    protected override string UnreachableAddress => "127.0.0.1:9";

    protected override string ReceiveThreadName => UdpMulticastTransport.ReceiveThreadName;

    protected override ITransport CreateTransport() => new UdpMulticastTransport(_options);

    protected override async Task InjectRawAsync(ITransport target, byte[] bytes)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        await socket.SendToAsync(bytes, SocketFlags.None, IPEndPoint.Parse(target.LocalAddress));
    }
}
