using System.Net;
using System.Net.Sockets;

namespace Multicast.Bench;

/// <summary>Free TCP ports on 127.0.0.1 for the servers a scenario starts (apps, Redis).</summary>
internal static class TcpPorts
{
    public static int Free()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
