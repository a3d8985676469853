using System.Runtime.InteropServices;

namespace Multicast.Transports.ZeroMq;

internal static partial class Interop
{
    internal const short ZMQ_POLLIN = 1;
    internal const short ZMQ_POLLOUT = 2;
    internal const short ZMQ_POLLERR = 4;

    [LibraryImport(LibZmq, EntryPoint = "zmq_poll", SetLastError = true)]
    private static unsafe partial int zmq_poll(ZmqPollItem* items, int count, long timeoutMilliseconds);

    /// <summary>Waits until an item is ready or <paramref name="timeoutMilliseconds"/> pass (-1: forever).
    /// Returns how many items have events; 0 on timeout or when a signal interrupted the wait.</summary>
    internal static unsafe int Poll(Span<ZmqPollItem> items, long timeoutMilliseconds)
    {
        fixed (ZmqPollItem* p = items)
        {
            var rc = zmq_poll(p, items.Length, timeoutMilliseconds);
            if (rc >= 0)
                return rc;
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR)
                return 0;
            throw Error("zmq_poll", errno);
        }
    }
}

/// <summary>libzmq's <c>zmq_pollitem_t</c> on Unix: a socket, or (when the socket is null) a file descriptor.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct ZmqPollItem
{
    /// <summary>The raw socket (<see cref="SafeHandle.DangerousGetHandle"/>; the owning thread keeps it alive).</summary>
    public nint Socket;
    public int FileDescriptor;
    public short Events;
    public short ReturnedEvents;

    public static ZmqPollItem ForSocket(ZmqSocketHandle socket, short events) =>
        new() { Socket = socket.DangerousGetHandle(), Events = events };

    public static ZmqPollItem ForFileDescriptor(int fd, short events) =>
        new() { FileDescriptor = fd, Events = events };

    public readonly bool IsReadable => (ReturnedEvents & Interop.ZMQ_POLLIN) != 0;
}
