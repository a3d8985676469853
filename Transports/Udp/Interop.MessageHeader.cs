using System.Runtime.InteropServices;

namespace Multicast.Transports.Udp;

/// <summary>The message structures of sendmmsg(2) and recvmmsg(2) (Linux, 64-bit layout), shared by both.</summary>
internal static partial class Interop
{
    /// <summary>SOL_UDP: the level of the UDP segmentation options and control messages.</summary>
    internal const int SolUdp = 17;

    /// <summary>struct iovec.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct IoVec
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary>struct msghdr (Linux).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVec* Vector;
        public nuint VectorLength;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    /// <summary>struct mmsghdr: one message of a batch and, on return, its length.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct MultiMessageHeader
    {
        public MessageHeader Header;
        public uint Length;
    }

    /// <summary>struct cmsghdr (Linux): the header of one control message; its data follows, 8-byte aligned.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct ControlMessageHeader
    {
        public nuint Length;
        public int Level;
        public int Type;
    }

    /// <summary>struct sockaddr_in: family (host order), port and address (network order), zero padding.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct SocketAddressV4
    {
        private const ushort AfInet = 2;

        public ushort Family;
        public ushort Port;
        public uint Address;
        public ulong Zero;

        public static SocketAddressV4 From(System.Net.IPEndPoint endPoint)
        {
            Span<byte> address = stackalloc byte[4];
            endPoint.Address.TryWriteBytes(address, out _);
            return new SocketAddressV4
            {
                Family = AfInet,
                Port = (ushort)System.Net.IPAddress.HostToNetworkOrder((short)endPoint.Port),
                Address = MemoryMarshal.Read<uint>(address),
            };
        }
    }

    /// <summary>CMSG_SPACE for a control message of <paramref name="dataLength"/> bytes.</summary>
    internal static unsafe int ControlSpace(int dataLength) => sizeof(ControlMessageHeader) + ((dataLength + 7) & ~7);

    /// <summary>CMSG_LEN for a control message of <paramref name="dataLength"/> bytes.</summary>
    internal static unsafe int ControlLength(int dataLength) => sizeof(ControlMessageHeader) + dataLength;
}
