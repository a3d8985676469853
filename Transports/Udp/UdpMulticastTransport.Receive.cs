using System.Net.Sockets;
using System.Runtime.InteropServices;
using Multicast.Transport;

namespace Multicast.Transports.Udp;

// Receiving: one named thread waits on both sockets with poll(2) and drains them, on Linux with recvmmsg(2) (several
// datagrams per call; a UDP_GRO buffer holds a whole train of them), elsewhere with recv(2) one at a time.
public sealed partial class UdpMulticastTransport
{
    // Larger than any IPv4 UDP payload and than any coalesced (UDP_GRO) buffer, so a read is never truncated.
    private const int ReceiveBufferSize = 65536;

    // Messages per recvmmsg call (each up to ReceiveBufferSize: 512 KiB of native buffers).
    private const int ReceiveBatch = 8;

    // A backstop only: DisposeAsync wakes the thread through its pipe.
    private const int PollTimeoutMilliseconds = 1000;

    // Reads from one socket before looking at the other, so neither starves: datagrams with recv(2), calls with recvmmsg(2).
    private const int BurstPerSocket = 64;
    private const int BatchCallsPerSocket = 8;

    private unsafe void ReceiveLoop()
    {
        var buffers = new ReceiveBuffers(_batchReceives ? ReceiveBatch : 1);
        try
        {
            var fds = stackalloc Interop.PollFd[3];
            fds[0] = new Interop.PollFd { Fd = (int)_multicastSocket!.SafeHandle.DangerousGetHandle(), Events = Interop.PollIn };
            fds[1] = new Interop.PollFd { Fd = (int)_unicastSocket!.SafeHandle.DangerousGetHandle(), Events = Interop.PollIn };
            fds[2] = new Interop.PollFd { Fd = _wakeRead, Events = Interop.PollIn };
            var sockets = new[] { _multicastSocket, _unicastSocket };
            var handler = _handler!;
            while (!_stopping)
            {
                fds[0].Revents = 0;
                fds[1].Revents = 0;
                fds[2].Revents = 0;
                var ready = Interop.Poll(fds, 3, PollTimeoutMilliseconds);
                if (ready < 0)
                {
                    var errno = Marshal.GetLastPInvokeError();
                    if (Interop.IsInterrupted(errno))
                        continue;
                    throw new InvalidOperationException($"poll(2) failed with errno {errno}.");
                }
                var delivered = 0;
                var emptied = true;
                if (fds[2].Revents != 0 && !_stopping)
                    DrainSelf(handler, ref delivered);
                for (var i = 0; i < 2 && !_stopping; i++)
                {
                    if (fds[i].Revents == 0)
                        continue;
                    emptied &= _batchReceives
                        ? DrainBatches(sockets[i], buffers, handler, ref delivered)
                        : Drain(fds[i].Fd, buffers.Data(0), handler, ref delivered);
                }
                // Both sockets are empty after a burst: the channel acknowledges now rather than at its ack timer.
                if (delivered > 0 && emptied && !_stopping)
                    ReportIdle(handler);
            }
        }
        catch (Exception ex)
        {
            UdpTransportLog.ReceiveThreadFailed(_logger, ex);
        }
        finally
        {
            buffers.Dispose();
            _receiveStopped.TrySetResult();
        }
    }

    private void ReportIdle(IDatagramHandler handler)
    {
        try
        {
            handler.OnReceiveIdle();
        }
        catch (Exception ex)
        {
            Interlocked.Increment(ref _handlerErrors);
            UdpTransportLog.HandlerFailed(_logger, ex);
        }
    }

    /// <summary>Reads a burst from one socket with recv(2); true when the socket is now empty.</summary>
    private unsafe bool Drain(int fd, byte* buffer, IDatagramHandler handler, ref int delivered)
    {
        for (var n = 0; n < BurstPerSocket && !_stopping; n++)
        {
            var length = Interop.Recv(fd, buffer, ReceiveBufferSize, Interop.DontWait);
            if (length < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (Interop.IsWouldBlock(errno))
                    return true;
                if (Interop.IsInterrupted(errno))
                    continue;
                CountReceiveError(errno);
                return true;
            }
            Interlocked.Increment(ref _receiveCalls);
            Deliver(handler, buffer, (int)length, ref delivered);
        }
        return false;
    }

    /// <summary>Reads bursts from one socket with recvmmsg(2), cutting coalesced buffers into their datagrams; true when
    /// the socket is now empty.</summary>
    private unsafe bool DrainBatches(Socket socket, ReceiveBuffers buffers, IDatagramHandler handler, ref int delivered)
    {
        for (var call = 0; call < BatchCallsPerSocket && !_stopping; call++)
        {
            var messages = buffers.Prepare();
            var count = Interop.ReceiveMessages(socket.SafeHandle, messages, (uint)buffers.Count, Interop.DontWait, null);
            if (count < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (Interop.IsWouldBlock(errno))
                    return true;
                if (Interop.IsInterrupted(errno))
                    continue;
                CountReceiveError(errno);
                return true;
            }
            Interlocked.Increment(ref _receiveCalls);
            for (var i = 0; i < count && !_stopping; i++)
            {
                var length = (int)messages[i].Length;
                var data = buffers.Data(i);
                var segment = Interop.ReceivedSegmentSize(messages[i].Header);
                if (segment <= 0 || segment >= length)
                {
                    Deliver(handler, data, length, ref delivered);
                    continue;
                }
                for (var offset = 0; offset < length && !_stopping; offset += segment)
                    Deliver(handler, data + offset, Math.Min(segment, length - offset), ref delivered);
            }
            // Fewer than asked for: the socket was empty at that moment.
            if (count < buffers.Count)
                return true;
        }
        return false;
    }

    private unsafe void Deliver(IDatagramHandler handler, byte* data, int length, ref int delivered)
    {
        // Empty datagrams carry nothing (DisposeAsync uses one to wake this thread).
        if (length == 0)
            return;
        Interlocked.Increment(ref _received);
        delivered++;
        try
        {
            handler.OnDatagram(new ReadOnlySpan<byte>(data, length));
        }
        catch (Exception ex)
        {
            Interlocked.Increment(ref _handlerErrors);
            UdpTransportLog.HandlerFailed(_logger, ex);
        }
    }

    private void CountReceiveError(int errno)
    {
        var count = Interlocked.Increment(ref _receiveErrors);
        if ((count & 1023) == 1)
            UdpTransportLog.ReceiveFailed(_logger, errno, count);
    }

    /// <summary>The receive thread's native buffers: one 64 KiB buffer, control buffer and message header per batch slot.</summary>
    private sealed unsafe class ReceiveBuffers : IDisposable
    {
        private readonly byte* _data;
        private readonly byte* _control;
        private readonly Interop.IoVec* _vectors;
        private readonly Interop.MultiMessageHeader* _messages;
        private readonly int _controlSpace = Interop.ReceiveControlSpace;

        public ReceiveBuffers(int count)
        {
            Count = count;
            _data = (byte*)NativeMemory.Alloc((nuint)(count * ReceiveBufferSize));
            // 8-byte aligned, as CMSG_* require.
            _control = (byte*)NativeMemory.AlignedAlloc((nuint)(count * _controlSpace), 8);
            _vectors = (Interop.IoVec*)NativeMemory.Alloc((nuint)(count * sizeof(Interop.IoVec)));
            _messages = (Interop.MultiMessageHeader*)NativeMemory.Alloc((nuint)(count * sizeof(Interop.MultiMessageHeader)));
        }

        public int Count { get; }

        public byte* Data(int index) => _data + index * ReceiveBufferSize;

        /// <summary>Resets every slot for the next recvmmsg call (the kernel overwrites lengths and flags).</summary>
        public Interop.MultiMessageHeader* Prepare()
        {
            for (var i = 0; i < Count; i++)
            {
                _vectors[i] = new Interop.IoVec { Base = Data(i), Length = ReceiveBufferSize };
                _messages[i] = new Interop.MultiMessageHeader
                {
                    Header = new Interop.MessageHeader
                    {
                        Vector = &_vectors[i],
                        VectorLength = 1,
                        Control = _control + i * _controlSpace,
                        ControlLength = (nuint)_controlSpace,
                    },
                };
            }
            return _messages;
        }

        public void Dispose()
        {
            NativeMemory.Free(_data);
            NativeMemory.AlignedFree(_control);
            NativeMemory.Free(_vectors);
            NativeMemory.Free(_messages);
        }
    }
}
