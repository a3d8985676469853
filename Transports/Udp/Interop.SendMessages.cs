using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Multicast.Transports.Udp;

/// <summary>sendmmsg(2) and UDP generic segmentation offload (Linux): a batch of datagrams in one system call, and a run
/// of equal-sized datagrams to one destination as one buffer that the kernel cuts into datagrams (UDP_SEGMENT).</summary>
internal static partial class Interop
{
    /// <summary>UDP_SEGMENT (Linux 4.18): the socket option and control message that set the segment size.</summary>
    internal const int UdpSegment = 103;

    /// <summary>The most segments the kernel accepts in one UDP_SEGMENT send (UDP_MAX_SEGMENTS on older kernels).</summary>
    internal const int MaxSegments = 64;

    /// <summary>The largest IPv4 UDP payload: one segmented send carries at most this many bytes.</summary>
    internal const int MaxSegmentedBytes = 65507;

    /// <summary>The control buffer of one segmented message: CMSG_SPACE(sizeof(u16)).</summary>
    internal static int SegmentControlSpace => ControlSpace(sizeof(ushort));

    [LibraryImport("libc", EntryPoint = "sendmmsg", SetLastError = true)]
    internal static unsafe partial int SendMessages(SafeSocketHandle socket, MultiMessageHeader* messages, uint count, int flags);

    /// <summary>Writes a UDP_SEGMENT control message for <paramref name="segmentSize"/>-byte segments at <paramref name="control"/>
    /// (<see cref="SegmentControlSpace"/> bytes, 8-byte aligned) and points <paramref name="header"/> at it.</summary>
    internal static unsafe void SetSegmentSize(ref MessageHeader header, byte* control, int segmentSize)
    {
        var cmsg = (ControlMessageHeader*)control;
        cmsg->Length = (nuint)ControlLength(sizeof(ushort));
        cmsg->Level = SolUdp;
        cmsg->Type = UdpSegment;
        *(ushort*)(control + sizeof(ControlMessageHeader)) = (ushort)segmentSize;
        header.Control = control;
        header.ControlLength = (nuint)SegmentControlSpace;
    }

    /// <summary>Errors of a segmented send that mean the path cannot segment (no checksum offload, IPsec, a segment above
    /// the MTU): EINVAL, EIO, ENOPROTOOPT, EOPNOTSUPP.</summary>
    internal static bool IsSegmentationUnsupported(int errno) => errno is 22 or 5 or 92 or 95;
}
