using System.Runtime.InteropServices;
using System.Text;

namespace Multicast.Bench.ZeroMq.Libzmq;

internal static partial class Interop
{
    // Socket types.
    internal const int ZMQ_PAIR = 0;
    internal const int ZMQ_PUB = 1;
    internal const int ZMQ_SUB = 2;
    internal const int ZMQ_PULL = 7;
    internal const int ZMQ_PUSH = 8;

    // Socket options.
    internal const int ZMQ_SUBSCRIBE = 6;
    internal const int ZMQ_RATE = 8;
    internal const int ZMQ_RECOVERY_IVL = 9;
    internal const int ZMQ_SNDBUF = 11;
    internal const int ZMQ_RCVBUF = 12;
    internal const int ZMQ_RCVMORE = 13;
    internal const int ZMQ_TYPE = 16;
    internal const int ZMQ_RECONNECT_IVL_MAX = 21;
    internal const int ZMQ_LINGER = 17;
    internal const int ZMQ_MAXMSGSIZE = 22;
    internal const int ZMQ_SNDHWM = 23;
    internal const int ZMQ_RCVHWM = 24;
    internal const int ZMQ_MULTICAST_HOPS = 25;
    internal const int ZMQ_LAST_ENDPOINT = 32;
    internal const int ZMQ_IMMEDIATE = 39;

    // Send and receive flags.
    internal const int ZMQ_DONTWAIT = 1;
    internal const int ZMQ_SNDMORE = 2;

    [LibraryImport(LibZmq, EntryPoint = "zmq_socket", SetLastError = true)]
    private static partial nint zmq_socket(ZmqContextHandle context, int type);

    [LibraryImport(LibZmq, EntryPoint = "zmq_close", SetLastError = true)]
    internal static partial int zmq_close(nint socket);

    [LibraryImport(LibZmq, EntryPoint = "zmq_bind", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int zmq_bind(ZmqSocketHandle socket, string endpoint);

    [LibraryImport(LibZmq, EntryPoint = "zmq_unbind", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int zmq_unbind(ZmqSocketHandle socket, string endpoint);

    [LibraryImport(LibZmq, EntryPoint = "zmq_connect", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int zmq_connect(ZmqSocketHandle socket, string endpoint);

    [LibraryImport(LibZmq, EntryPoint = "zmq_disconnect", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int zmq_disconnect(ZmqSocketHandle socket, string endpoint);

    [LibraryImport(LibZmq, EntryPoint = "zmq_setsockopt", SetLastError = true)]
    private static unsafe partial int zmq_setsockopt(ZmqSocketHandle socket, int option, void* value, nuint length);

    [LibraryImport(LibZmq, EntryPoint = "zmq_getsockopt", SetLastError = true)]
    private static unsafe partial int zmq_getsockopt(ZmqSocketHandle socket, int option, void* value, ref nuint length);

    [LibraryImport(LibZmq, EntryPoint = "zmq_send", SetLastError = true)]
    private static unsafe partial int zmq_send(ZmqSocketHandle socket, byte* buffer, nuint length, int flags);

    /// <summary>A new socket of <paramref name="type"/> (ZMQ_PUB, ...) that keeps <paramref name="context"/> alive.</summary>
    internal static ZmqSocketHandle CreateSocket(ZmqContextHandle context, int type)
    {
        var raw = zmq_socket(context, type);
        if (raw == nint.Zero)
            throw Error($"zmq_socket({type})");
        var socket = new ZmqSocketHandle();
        socket.Attach(raw, context);
        return socket;
    }

    internal static void Bind(ZmqSocketHandle socket, string endpoint)
    {
        if (zmq_bind(socket, endpoint) != 0)
            throw Error($"zmq_bind('{endpoint}')");
    }

    internal static void Unbind(ZmqSocketHandle socket, string endpoint)
    {
        if (zmq_unbind(socket, endpoint) != 0)
            throw Error($"zmq_unbind('{endpoint}')");
    }

    internal static void Connect(ZmqSocketHandle socket, string endpoint)
    {
        if (zmq_connect(socket, endpoint) != 0)
            throw Error($"zmq_connect('{endpoint}')");
    }

    internal static void Disconnect(ZmqSocketHandle socket, string endpoint)
    {
        if (zmq_disconnect(socket, endpoint) != 0)
            throw Error($"zmq_disconnect('{endpoint}')");
    }

    internal static unsafe void SetOption(ZmqSocketHandle socket, int option, int value)
    {
        if (zmq_setsockopt(socket, option, &value, sizeof(int)) != 0)
            throw Error($"zmq_setsockopt({option})");
    }

    internal static unsafe void SetOption(ZmqSocketHandle socket, int option, long value)
    {
        if (zmq_setsockopt(socket, option, &value, sizeof(long)) != 0)
            throw Error($"zmq_setsockopt({option})");
    }

    internal static unsafe void SetOption(ZmqSocketHandle socket, int option, ReadOnlySpan<byte> value)
    {
        fixed (byte* p = value)
        {
            if (zmq_setsockopt(socket, option, p, (nuint)value.Length) != 0)
                throw Error($"zmq_setsockopt({option})");
        }
    }

    internal static void SetOption(ZmqSocketHandle socket, int option, string value) =>
        SetOption(socket, option, Encoding.UTF8.GetBytes(value));

    internal static unsafe int GetInt32Option(ZmqSocketHandle socket, int option)
    {
        int value;
        nuint length = sizeof(int);
        if (zmq_getsockopt(socket, option, &value, ref length) != 0)
            throw Error($"zmq_getsockopt({option})");
        return value;
    }

    internal static unsafe long GetInt64Option(ZmqSocketHandle socket, int option)
    {
        long value;
        nuint length = sizeof(long);
        if (zmq_getsockopt(socket, option, &value, ref length) != 0)
            throw Error($"zmq_getsockopt({option})");
        return value;
    }

    /// <summary>A string option (ZMQ_LAST_ENDPOINT, ...), without its terminating NUL.</summary>
    internal static unsafe string GetStringOption(ZmqSocketHandle socket, int option)
    {
        Span<byte> buffer = stackalloc byte[1024];
        nuint length = (nuint)buffer.Length;
        fixed (byte* p = buffer)
        {
            if (zmq_getsockopt(socket, option, p, ref length) != 0)
                throw Error($"zmq_getsockopt({option})");
        }
        var text = buffer[..(int)length];
        var nul = text.IndexOf((byte)0);
        return Encoding.UTF8.GetString(nul >= 0 ? text[..nul] : text);
    }

    /// <summary>Sends one frame (<see cref="ZMQ_SNDMORE"/> in <paramref name="flags"/> when more frames of the
    /// message follow). Returns false when the frame was not queued because of <see cref="ZMQ_DONTWAIT"/> and a full
    /// high-water mark (EAGAIN); throws for anything else.</summary>
    internal static unsafe bool Send(ZmqSocketHandle socket, ReadOnlySpan<byte> frame, int flags)
    {
        fixed (byte* p = frame)
        {
            while (true)
            {
                if (zmq_send(socket, p, (nuint)frame.Length, flags) >= 0)
                    return true;
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EAGAIN)
                    return false;
                if (errno != EINTR)
                    throw Error("zmq_send", errno);
            }
        }
    }
}
