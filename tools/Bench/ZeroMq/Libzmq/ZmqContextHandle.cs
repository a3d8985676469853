using System.Runtime.InteropServices;

namespace Multicast.Bench.ZeroMq.Libzmq;

/// <summary>A libzmq context. Released (zmq_ctx_term) only after every socket made from it is closed:
/// each <see cref="ZmqSocketHandle"/> holds a reference, so termination never blocks on an open socket.</summary>
internal sealed class ZmqContextHandle : SafeHandle
{
    public ZmqContextHandle() : base(nint.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == nint.Zero;

    internal void Attach(nint context) => SetHandle(context);

    protected override bool ReleaseHandle()
    {
        // zmq_ctx_term returns EINTR when a signal interrupts it; try again.
        int rc;
        do
        {
            rc = Interop.zmq_ctx_term(handle);
        }
        while (rc != 0 && Marshal.GetLastPInvokeError() == Interop.EINTR);
        return rc == 0;
    }
}
