using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Multicast.Transports.ZeroMq;

internal static partial class Interop
{
    // The owning thread's wakeup is a Linux eventfd that zmq_poll watches next to the sockets: any thread may
    // signal it without touching a libzmq socket (libzmq sockets belong to one thread).
    private const string LibC = "libc";
    private const int EFD_CLOEXEC = 0x80000;
    private const int EFD_NONBLOCK = 0x800;

    [LibraryImport(LibC, EntryPoint = "eventfd", SetLastError = true)]
    private static partial int eventfd(uint initval, int flags);

    [LibraryImport(LibC, EntryPoint = "write", SetLastError = true)]
    private static unsafe partial nint write(SafeFileHandle fd, void* buffer, nuint count);

    [LibraryImport(LibC, EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint read(SafeFileHandle fd, void* buffer, nuint count);

    /// <summary>A new nonblocking eventfd. A SafeHandle, so a signal racing with the close never writes to a reused descriptor.</summary>
    internal static SafeFileHandle CreateEventFd()
    {
        var fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
            throw Error("eventfd");
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>Makes the eventfd readable; safe from any thread. A full counter (never in practice) is ignored:
    /// it is readable then anyway.</summary>
    internal static unsafe void SignalEventFd(SafeFileHandle fd)
    {
        ulong one = 1;
        try
        {
            _ = write(fd, &one, sizeof(ulong));
        }
        catch (ObjectDisposedException)
        {
            // The owning thread has stopped: nobody is left to wake.
        }
    }

    /// <summary>Resets the eventfd to not readable (nonblocking: nothing to read is fine).</summary>
    internal static unsafe void DrainEventFd(SafeFileHandle fd)
    {
        ulong value;
        _ = read(fd, &value, sizeof(ulong));
    }
}
