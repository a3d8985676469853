using System.Runtime.InteropServices;

namespace Multicast.Bench.ZeroMq.Libzmq;

internal static partial class Interop
{
    internal const int ZMQ_IO_THREADS = 1;
    internal const int ZMQ_MAX_SOCKETS = 2;
    internal const int ZMQ_BLOCKY = 70;

    [LibraryImport(LibZmq, EntryPoint = "zmq_ctx_new", SetLastError = true)]
    private static partial nint zmq_ctx_new();

    [LibraryImport(LibZmq, EntryPoint = "zmq_ctx_term", SetLastError = true)]
    internal static partial int zmq_ctx_term(nint context);

    [LibraryImport(LibZmq, EntryPoint = "zmq_ctx_set", SetLastError = true)]
    private static partial int zmq_ctx_set(ZmqContextHandle context, int option, int value);

    /// <summary>A new context; throws <see cref="LibzmqException"/> naming the package when libzmq is missing.</summary>
    internal static ZmqContextHandle CreateContext()
    {
        nint raw;
        try
        {
            raw = zmq_ctx_new();
        }
        catch (DllNotFoundException e)
        {
            throw LibzmqException.NotInstalled(LibZmq, e);
        }
        if (raw == nint.Zero)
            throw Error("zmq_ctx_new");
        var context = new ZmqContextHandle();
        context.Attach(raw);
        return context;
    }

    internal static void SetContextOption(ZmqContextHandle context, int option, int value)
    {
        if (zmq_ctx_set(context, option, value) != 0)
            throw Error($"zmq_ctx_set({option})");
    }
}
