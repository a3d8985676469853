using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Multicast.Transport;

namespace Multicast.Transports.Udp;

// Datagrams to this node's own address (the channel installs its views that way) are handed to the receive thread in the
// process, through a queue and a pipe that wakes its poll(2): they never pass the network stack, so a firewall rule that
// drops all UDP (a partition made with iptables) cannot keep a cut-off node from installing the view it proposes.
public sealed partial class UdpMulticastTransport
{
    private readonly ConcurrentQueue<byte[]> _toSelf = new();
    private readonly object _pipeGate = new(); // a write never meets a closed (or reused) descriptor
    private int _wakeRead = -1;
    private int _wakeWrite = -1;
    private int _wakePending;

    private unsafe void OpenWakePipe()
    {
        var fds = stackalloc int[2];
        if (Interop.Pipe(fds, Interop.PipeCloseOnExec | Interop.PipeNonBlocking) != 0)
            throw new InvalidOperationException($"pipe(2) failed with errno {Marshal.GetLastPInvokeError()}: the receive thread cannot be woken.");
        _wakeRead = fds[0];
        _wakeWrite = fds[1];
    }

    /// <summary>After the receive thread stopped.</summary>
    private void CloseWakePipe()
    {
        lock (_pipeGate)
        {
            if (_wakeRead >= 0)
                Interop.Close(_wakeRead);
            if (_wakeWrite >= 0)
                Interop.Close(_wakeWrite);
            _wakeRead = _wakeWrite = -1;
        }
    }

    private bool IsSelf(string? address) => address is not null && string.Equals(address, _localAddress, StringComparison.Ordinal);

    /// <summary>Queues a datagram for this node's own handler and wakes the receive thread (one byte in the pipe at most).</summary>
    private void SendToSelf(ReadOnlySpan<byte> datagram)
    {
        if (_stopping)
            return;
        _toSelf.Enqueue(datagram.ToArray());
        Interlocked.Increment(ref _sent);
        if (Interlocked.CompareExchange(ref _wakePending, 1, 0) == 0)
            WritePipe();
    }

    private unsafe void WritePipe()
    {
        byte one = 1;
        lock (_pipeGate)
        {
            while (_wakeWrite >= 0 && Interop.Write(_wakeWrite, &one, 1) < 0 && Interop.IsInterrupted(Marshal.GetLastPInvokeError()))
            {
            }
        }
    }

    /// <summary>On the receive thread, when the pipe is readable: empties it, then delivers what was queued.</summary>
    private unsafe void DrainSelf(IDatagramHandler handler, ref int delivered)
    {
        var buffer = stackalloc byte[64];
        Interop.Read(_wakeRead, buffer, 64);
        // Cleared before the queue is read: a datagram queued from now on writes the pipe again.
        Volatile.Write(ref _wakePending, 0);
        while (!_stopping && _toSelf.TryDequeue(out var datagram))
        {
            fixed (byte* data = datagram)
                Deliver(handler, data, datagram.Length, ref delivered);
        }
    }
}
