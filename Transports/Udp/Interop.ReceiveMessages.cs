using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Multicast.Transports.Udp;

/// <summary>recvmmsg(2) and UDP generic receive offload (Linux): several datagrams per system call, and a train of
/// equal-sized datagrams from one sender as one buffer with its segment size (UDP_GRO).</summary>
internal static partial class Interop
{
    /// <summary>UDP_GRO (Linux 5.0): the socket option that lets the kernel hand over coalesced datagrams, and the control
    /// message that carries their segment size.</summary>
    internal const int UdpGro = 104;

    /// <summary>The control buffer for one received message: room for the UDP_GRO control message (an int).</summary>
    internal static int ReceiveControlSpace => ControlSpace(sizeof(int));

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    internal static unsafe partial int ReceiveMessages(SafeSocketHandle socket, MultiMessageHeader* messages, uint count, int flags, void* timeout);

    /// <summary>The segment size of a received message: the UDP_GRO control message, or 0 when it holds one datagram.</summary>
    internal static unsafe int ReceivedSegmentSize(in MessageHeader header)
    {
        var offset = 0;
        var length = (int)header.ControlLength;
        var control = (byte*)header.Control;
        while (offset + sizeof(ControlMessageHeader) <= length)
        {
            var cmsg = (ControlMessageHeader*)(control + offset);
            if (cmsg->Length < (nuint)sizeof(ControlMessageHeader))
                return 0;
            if (cmsg->Level == SolUdp && cmsg->Type == UdpGro && (int)cmsg->Length >= ControlLength(sizeof(int)))
                return *(int*)(control + offset + sizeof(ControlMessageHeader));
            offset += ControlSpace((int)cmsg->Length - sizeof(ControlMessageHeader));
        }
        return 0;
    }
}
