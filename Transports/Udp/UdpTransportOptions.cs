using System.Net;
using System.Net.Sockets;

namespace Multicast.Transports.Udp;

/// <summary>Settings of <see cref="UdpMulticastTransport"/>, bound from the configuration section <c>Cluster:Udp</c>.</summary>
public sealed class UdpTransportOptions
{
    /// <summary>The configuration section these options are bound from.</summary>
    public const string SectionName = "Cluster:Udp";

    /// <summary>The default multicast group: in the IPv4 organization-local scope (239.255.0.0/16).</summary>
    public const string DefaultGroup = "239.255.77.77";

    /// <summary>The default UDP port of the group.</summary>
    public const int DefaultPort = 45566;

    /// <summary>The default interface: loopback, so a cluster on one machine works out of the box.</summary>
    public const string DefaultInterface = "127.0.0.1";

    /// <summary>The default multicast TTL: 1 keeps datagrams on the local link (never routed).</summary>
    public const int DefaultTtl = 1;

    /// <summary>The default largest datagram: fits a 1500-byte Ethernet MTU after IP and UDP headers with room to spare.</summary>
    public const int DefaultDatagramSize = 1400;

    /// <summary>The smallest accepted datagram size.</summary>
    public const int MinDatagramSize = 512;

    /// <summary>The largest accepted datagram size: the IPv4 UDP payload limit. Sizes above the path MTU
    /// rely on IP fragmentation, so use them on loopback (MTU 65536) or jumbo-frame networks only.</summary>
    public const int MaxDatagramSize = 65507;

    /// <summary>The default requested socket receive buffer: 4 MiB absorbs bursts of repairs and state transfer.</summary>
    public const int DefaultReceiveBufferBytes = 4 * 1024 * 1024;

    /// <summary>The default requested socket send buffer.</summary>
    public const int DefaultSendBufferBytes = 1024 * 1024;

    /// <summary>The IPv4 multicast group (224.0.0.0/4) every node of the cluster joins.</summary>
    /// <value>The default value is <see cref="DefaultGroup"/> (<c>239.255.77.77</c>).</value>
    public string Group { get; set; } = DefaultGroup;

    /// <summary>The UDP port of the group; every node of the cluster uses the same one.</summary>
    /// <value>The default value is <see cref="DefaultPort"/> (<c>45566</c>).</value>
    public int Port { get; set; } = DefaultPort;

    /// <summary>The IPv4 address of the local interface to join the group on, send multicast from and bind the
    /// unicast socket to.</summary>
    /// <value>The default value is <see cref="DefaultInterface"/> (<c>127.0.0.1</c>).</value>
    public string Interface { get; set; } = DefaultInterface;

    /// <summary>The multicast time-to-live (hops): 1 stays on the local network, more crosses multicast routers.</summary>
    /// <value>The default value is <see cref="DefaultTtl"/> (<c>1</c>).</value>
    public int Ttl { get; set; } = DefaultTtl;

    /// <summary>The largest datagram the transport sends, in bytes (<see cref="MinDatagramSize"/> to
    /// <see cref="MaxDatagramSize"/>). Every node of a cluster should use the same value.</summary>
    /// <value>The default value is <see cref="DefaultDatagramSize"/> (<c>1400</c>).</value>
    public int DatagramSize { get; set; } = DefaultDatagramSize;

    /// <summary>The requested SO_RCVBUF of both sockets, in bytes; 0 keeps the system default. The kernel caps it at
    /// <c>net.core.rmem_max</c>; the transport logs a warning when it does.</summary>
    /// <value>The default value is <see cref="DefaultReceiveBufferBytes"/> (4 MiB).</value>
    public int ReceiveBufferBytes { get; set; } = DefaultReceiveBufferBytes;

    /// <summary>The requested SO_SNDBUF of the sending socket, in bytes; 0 keeps the system default. The kernel caps
    /// it at <c>net.core.wmem_max</c>; the transport logs a warning when it does.</summary>
    /// <value>The default value is <see cref="DefaultSendBufferBytes"/> (1 MiB).</value>
    public int SendBufferBytes { get; set; } = DefaultSendBufferBytes;

    /// <summary>Whether, on Linux, batches of datagrams use UDP segmentation offload (one UDP_SEGMENT buffer per run of
    /// equal-sized datagrams to one destination) and the sockets accept coalesced trains (UDP_GRO). Either is used only when
    /// the kernel has it. Off: every datagram is its own buffer in the kernel (sendmmsg(2)/recvmmsg(2) are used either way).</summary>
    /// <value>The default value is <see langword="true"/>.</value>
    public bool Offload { get; set; } = true;

    /// <summary>Checks every setting.</summary>
    /// <exception cref="OptionsValidationError">A setting is invalid; <see cref="OptionsValidationError.Key"/> names it.</exception>
    public void Validate()
    {
        if (!IPAddress.TryParse(Group ?? "", out var group) || group.AddressFamily != AddressFamily.InterNetwork || !IsMulticast(group))
            throw new OptionsValidationError($"{SectionName}:Group", $"'{Group}' is not an IPv4 multicast address (224.0.0.0 to 239.255.255.255; use 239.x.y.z for a private cluster)");
        if (Port is < 1 or > 65535)
            throw new OptionsValidationError($"{SectionName}:Port", $"{Port} is not a UDP port (1 to 65535)");
        if (!IPAddress.TryParse(Interface ?? "", out var local) || local.AddressFamily != AddressFamily.InterNetwork || IsMulticast(local) || local.Equals(IPAddress.Any) || local.Equals(IPAddress.Broadcast))
            throw new OptionsValidationError($"{SectionName}:Interface", $"'{Interface}' is not the IPv4 address of a local interface (e.g. 127.0.0.1 for one machine, or this host's LAN address)");
        if (Ttl is < 0 or > 255)
            throw new OptionsValidationError($"{SectionName}:Ttl", $"{Ttl} is not a TTL (0 to 255; 1 stays on the local network)");
        if (DatagramSize is < MinDatagramSize or > MaxDatagramSize)
            throw new OptionsValidationError($"{SectionName}:DatagramSize", $"{DatagramSize} is outside {MinDatagramSize} to {MaxDatagramSize} bytes (1400 for Ethernet, up to 65507 on loopback)");
        if (ReceiveBufferBytes is < 0 or > int.MaxValue / 2)
            throw new OptionsValidationError($"{SectionName}:ReceiveBufferBytes", $"{ReceiveBufferBytes} is not a buffer size (0 for the system default, or bytes up to {int.MaxValue / 2})");
        if (SendBufferBytes is < 0 or > int.MaxValue / 2)
            throw new OptionsValidationError($"{SectionName}:SendBufferBytes", $"{SendBufferBytes} is not a buffer size (0 for the system default, or bytes up to {int.MaxValue / 2})");
    }

    private static bool IsMulticast(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[4];
        return address.TryWriteBytes(bytes, out _) && (bytes[0] & 0xF0) == 0xE0;
    }
}
