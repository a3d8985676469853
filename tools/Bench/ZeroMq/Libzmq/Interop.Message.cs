using System.Runtime.InteropServices;

namespace Multicast.Bench.ZeroMq.Libzmq;

internal static partial class Interop
{
    [LibraryImport(LibZmq, EntryPoint = "zmq_msg_init", SetLastError = true)]
    private static partial int zmq_msg_init(ref ZmqMessage message);

    [LibraryImport(LibZmq, EntryPoint = "zmq_msg_close", SetLastError = true)]
    private static partial int zmq_msg_close(ref ZmqMessage message);

    [LibraryImport(LibZmq, EntryPoint = "zmq_msg_recv", SetLastError = true)]
    private static partial int zmq_msg_recv(ref ZmqMessage message, ZmqSocketHandle socket, int flags);

    [LibraryImport(LibZmq, EntryPoint = "zmq_msg_data")]
    private static partial nint zmq_msg_data(ref ZmqMessage message);

    [LibraryImport(LibZmq, EntryPoint = "zmq_msg_size")]
    private static partial nuint zmq_msg_size(ref ZmqMessage message);

    [LibraryImport(LibZmq, EntryPoint = "zmq_msg_more")]
    private static partial int zmq_msg_more(ref ZmqMessage message);

    internal static void InitMessage(ref ZmqMessage message)
    {
        if (zmq_msg_init(ref message) != 0)
            throw Error("zmq_msg_init");
    }

    internal static void CloseMessage(ref ZmqMessage message)
    {
        if (zmq_msg_close(ref message) != 0)
            throw Error("zmq_msg_close");
    }

    /// <summary>Receives the next frame into <paramref name="message"/> (initialised, closed by the caller).
    /// Returns false when nothing is waiting and <paramref name="flags"/> has <see cref="ZMQ_DONTWAIT"/> (EAGAIN).</summary>
    internal static bool Receive(ref ZmqMessage message, ZmqSocketHandle socket, int flags)
    {
        while (true)
        {
            if (zmq_msg_recv(ref message, socket, flags) >= 0)
                return true;
            var errno = Marshal.GetLastPInvokeError();
            if (errno == EAGAIN)
                return false;
            if (errno != EINTR)
                throw Error("zmq_msg_recv", errno);
        }
    }

    /// <summary>The received frame's bytes, valid until the message is closed or reused. No copy.</summary>
    internal static unsafe ReadOnlySpan<byte> MessageData(ref ZmqMessage message) =>
        new((void*)zmq_msg_data(ref message), checked((int)zmq_msg_size(ref message)));

    /// <summary>Whether more frames of the same message follow the received one (ZMQ_RCVMORE).</summary>
    internal static bool MessageMore(ref ZmqMessage message) => zmq_msg_more(ref message) != 0;
}

/// <summary>libzmq's opaque <c>zmq_msg_t</c>: 64 bytes, pointer-aligned. Lives on the stack of the owning thread.</summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal unsafe struct ZmqMessage
{
    private fixed long _opaque[8];
}
