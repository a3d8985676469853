using System.Runtime.InteropServices;

namespace Multicast.Transports.Udp;

/// <summary>pipe(2), read(2), write(2) and close(2) from libc: the receive thread's wake-up for datagrams this node
/// sends to itself, which are handed over in the process and never pass the kernel's network stack.</summary>
internal static partial class Interop
{
    // Not inherited by child processes (a test process starts node hosts), and neither end ever blocks: the reader drains
    // what poll(2) reported, the writer's byte is redundant when the pipe is full.
    internal const int PipeCloseOnExec = 0x80000; // O_CLOEXEC
    internal const int PipeNonBlocking = 0x800; // O_NONBLOCK

    [LibraryImport("libc", EntryPoint = "pipe2", SetLastError = true)]
    internal static unsafe partial int Pipe(int* fds, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    internal static unsafe partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    internal static unsafe partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    internal static partial int Close(int fd);
}
