using System.Runtime.InteropServices;

namespace Multicast.Transports.Udp;

/// <summary>pipe(2), read(2), write(2) and close(2) from libc: the receive thread's wake-up for datagrams this node
/// sends to itself, which are handed over in the process and never pass the kernel's network stack.</summary>
internal static partial class Interop
{
    [LibraryImport("libc", EntryPoint = "pipe", SetLastError = true)]
    internal static unsafe partial int Pipe(int* fds);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    internal static unsafe partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    internal static unsafe partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}
