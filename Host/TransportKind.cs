namespace Multicast.Host;

/// <summary>The transport a node uses (<c>Cluster:Transport</c>).</summary>
internal enum TransportKind
{
    /// <summary>UDP multicast (the default; works on loopback).</summary>
    Udp = 0,

    /// <summary>ZeroMQ PUB/SUB to a static list of peers.</summary>
    ZeroMq = 1,
}
