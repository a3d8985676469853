using System.Runtime.InteropServices;

namespace Multicast.Transports.Udp;

/// <summary>poll(2) and recv(2) from libc: one thread waits on both sockets and drains them without allocating.</summary>
internal static partial class Interop
{
    internal const short PollIn = 0x0001;
    internal const short PollErr = 0x0008;
    internal const short PollHup = 0x0010;
    internal const short PollNval = 0x0020;

    /// <summary>struct pollfd (same layout on Linux and macOS).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    internal static unsafe partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    internal static unsafe partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    /// <summary>MSG_DONTWAIT: the socket stays blocking for sends; only the receive thread's reads are non-blocking.</summary>
    internal static int DontWait => OperatingSystem.IsMacOS() ? 0x80 : 0x40;

    /// <summary>EAGAIN / EWOULDBLOCK: nothing more to read.</summary>
    internal static bool IsWouldBlock(int errno) => errno == (OperatingSystem.IsMacOS() ? 35 : 11);

    /// <summary>EINTR: a signal interrupted the call; retry.</summary>
    internal static bool IsInterrupted(int errno) => errno == 4;
}
