using System.Runtime.InteropServices;

namespace Multicast.Bench.ZeroMq.Libzmq;

/// <summary>A libzmq socket. libzmq sockets are not thread-safe: one thread owns each (the transport's
/// "Multicast ZeroMQ" thread); closing from a finalizer is allowed because nothing uses it any more.</summary>
internal sealed class ZmqSocketHandle : SafeHandle
{
    private ZmqContextHandle? _context;

    public ZmqSocketHandle() : base(nint.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == nint.Zero;

    /// <summary>Takes ownership of <paramref name="socket"/> and keeps <paramref name="context"/> alive until it is closed.</summary>
    internal void Attach(nint socket, ZmqContextHandle context)
    {
        var added = false;
        context.DangerousAddRef(ref added);
        _context = context;
        SetHandle(socket);
    }

    protected override bool ReleaseHandle()
    {
        var ok = Interop.zmq_close(handle) == 0;
        _context?.DangerousRelease();
        return ok;
    }
}
