using System.Net;
using System.Net.Sockets;
using Multicast.Transports.Udp;

namespace Multicast.Tests.Transports.Udp;

/// <summary>A random multicast group and port per test, so parallel runs on one host never hear each other.</summary>
internal static class UdpTestNetwork
{
    public static UdpTransportOptions RandomGroup(int datagramSize = UdpTransportOptions.DefaultDatagramSize) => new()
    {
        Group = $"239.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(0, 256)}.{Random.Shared.Next(1, 255)}",
        Port = FreeUdpPort(),
        Interface = "127.0.0.1",
        DatagramSize = datagramSize,
    };

    /// <summary>A port the kernel just handed out, so no other test on this host is using it.</summary>
    public static int FreeUdpPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
