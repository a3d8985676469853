using System.Net.Sockets;
using System.Runtime.InteropServices;
using Multicast.Transport;

namespace Multicast.Transports.Udp;

// Sending: one datagram with Socket.SendTo, a batch with one sendmmsg(2) whose runs of equal-sized datagrams to one
// destination are single UDP_SEGMENT buffers (the kernel cuts them into datagrams after routing, once per run).
public sealed partial class UdpMulticastTransport
{
    // Messages per sendmmsg call; each is one datagram or one segmented run of up to Interop.MaxSegments.
    private const int MaxBatchMessages = 64;

    /// <inheritdoc />
    public void SendToGroup(ReadOnlySpan<byte> datagram) => Send(datagram, _groupDestination, null);

    /// <inheritdoc />
    /// <param name="address">"ip:port", as another member's <see cref="LocalAddress"/>.</param>
    /// <param name="datagram">The datagram.</param>
    /// <exception cref="ArgumentException"><paramref name="address"/> is not "ip:port", or the datagram is too large.</exception>
    public void SendTo(string address, ReadOnlySpan<byte> datagram)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (IsSelf(address))
        {
            if (datagram.Length > _datagramSize)
                ThrowTooLarge(datagram.Length);
            SendToSelf(datagram);
            return;
        }
        Send(datagram, Lookup(address), address);
    }

    /// <inheritdoc />
    /// <remarks>On Linux one sendmmsg(2) call carries the batch, and each run of equal-sized datagrams (the last may be
    /// shorter) is one UDP_SEGMENT buffer when <see cref="SegmentationOffload"/> is on; elsewhere one send per datagram.</remarks>
    public void SendBatchToGroup(ReadOnlySpan<byte> datagrams, ReadOnlySpan<int> lengths) => SendBatch(datagrams, lengths, _groupDestination, null);

    /// <inheritdoc />
    /// <remarks>As <see cref="SendBatchToGroup"/>, to one member.</remarks>
    /// <exception cref="ArgumentException"><paramref name="address"/> is not "ip:port", a datagram is too large, or the lengths
    /// exceed the batch.</exception>
    public void SendBatchTo(string address, ReadOnlySpan<byte> datagrams, ReadOnlySpan<int> lengths)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (IsSelf(address))
        {
            TransportBatch.Check(datagrams.Length, lengths);
            foreach (var length in lengths)
            {
                if (length > _datagramSize)
                    ThrowTooLarge(length);
                SendToSelf(datagrams[..length]);
                datagrams = datagrams[length..];
            }
            return;
        }
        SendBatch(datagrams, lengths, Lookup(address), address);
    }

    private Destination Lookup(string address) => _addresses.TryGetValue(address, out var destination) ? destination : Resolve(address);

    private void Send(ReadOnlySpan<byte> datagram, Destination? destination, string? address)
    {
        if (datagram.Length > _datagramSize)
            ThrowTooLarge(datagram.Length);
        var socket = _unicastSocket;
        if (socket is null || destination is null)
            throw new InvalidOperationException("The transport is not started.");
        if (_stopping)
            return;
        SendOne(socket, datagram, destination, address);
    }

    private void SendOne(Socket socket, ReadOnlySpan<byte> datagram, Destination destination, string? address)
    {
        try
        {
            socket.SendTo(datagram, SocketFlags.None, destination.Address);
            Interlocked.Increment(ref _sent);
            Interlocked.Increment(ref _sendCalls);
        }
        catch (SocketException ex)
        {
            CountSendError(1, address, ex.SocketErrorCode.ToString());
        }
        catch (ObjectDisposedException) when (_stopping)
        {
            // Disposed while sending: the datagram is dropped, like any other.
        }
    }

    private unsafe void SendBatch(ReadOnlySpan<byte> datagrams, ReadOnlySpan<int> lengths, Destination? destination, string? address)
    {
        TransportBatch.Check(datagrams.Length, lengths);
        foreach (var length in lengths)
        {
            if (length > _datagramSize)
                ThrowTooLarge(length);
        }
        var socket = _unicastSocket;
        if (socket is null || destination is null)
            throw new InvalidOperationException("The transport is not started.");
        if (_stopping || lengths.IsEmpty)
            return;
        if (!_batchSends || lengths.Length == 1)
        {
            foreach (var length in lengths)
            {
                SendOne(socket, datagrams[..length], destination, address);
                datagrams = datagrams[length..];
            }
            return;
        }

        var messages = stackalloc Interop.MultiMessageHeader[MaxBatchMessages];
        var vectors = stackalloc Interop.IoVec[MaxBatchMessages];
        var runs = stackalloc int[MaxBatchMessages];
        var segmentSizes = stackalloc int[MaxBatchMessages];
        var controlSpace = Interop.SegmentControlSpace;
        // ulong elements keep every control message 8-byte aligned, as CMSG_* require.
        var controls = stackalloc ulong[MaxBatchMessages * controlSpace / sizeof(ulong)];
        var name = destination.Native;
        var segment = Volatile.Read(ref _segmentation) != 0;
        fixed (byte* data = datagrams)
        {
            var offset = 0;
            var index = 0;
            while (index < lengths.Length)
            {
                var count = 0;
                for (; count < MaxBatchMessages && index < lengths.Length; count++)
                {
                    var size = lengths[index];
                    var run = 1;
                    var bytes = size;
                    if (segment && size > 0)
                    {
                        // A run: datagrams of the first one's size, optionally ended by one shorter datagram.
                        while (index + run < lengths.Length && run < Interop.MaxSegments)
                        {
                            var next = lengths[index + run];
                            if (next > size || next == 0 || bytes + next > Interop.MaxSegmentedBytes)
                                break;
                            bytes += next;
                            run++;
                            if (next < size)
                                break;
                        }
                    }
                    vectors[count] = new Interop.IoVec { Base = data + offset, Length = (nuint)bytes };
                    ref var header = ref messages[count].Header;
                    header = default;
                    header.Name = &name;
                    header.NameLength = (uint)sizeof(Interop.SocketAddressV4);
                    header.Vector = &vectors[count];
                    header.VectorLength = 1;
                    if (run > 1)
                        Interop.SetSegmentSize(ref header, (byte*)controls + count * controlSpace, size);
                    messages[count].Length = 0;
                    runs[count] = run;
                    segmentSizes[count] = size;
                    offset += bytes;
                    index += run;
                }
                SendMessages(socket, messages, vectors, runs, segmentSizes, count, destination, address);
            }
        }
    }

    /// <summary>One sendmmsg(2) for <paramref name="count"/> prepared messages, repeated for the rest when the kernel takes
    /// fewer; a message the kernel refuses is dropped and counted (a refused segmented run is sent datagram by datagram,
    /// and segmentation is switched off for good).</summary>
    private unsafe void SendMessages(Socket socket, Interop.MultiMessageHeader* messages, Interop.IoVec* vectors, int* runs, int* segmentSizes,
        int count, Destination destination, string? address)
    {
        var done = 0;
        while (done < count && !_stopping)
        {
            int sent;
            try
            {
                sent = Interop.SendMessages(socket.SafeHandle, messages + done, (uint)(count - done), 0);
            }
            catch (ObjectDisposedException) when (_stopping)
            {
                return;
            }
            if (sent > 0)
            {
                Interlocked.Increment(ref _sendCalls);
                var datagrams = 0;
                for (var i = done; i < done + sent; i++)
                    datagrams += runs[i];
                Interlocked.Add(ref _sent, datagrams);
                done += sent;
                continue;
            }
            var errno = Marshal.GetLastPInvokeError();
            if (Interop.IsInterrupted(errno))
                continue;
            if (runs[done] > 1 && Interop.IsSegmentationUnsupported(errno))
            {
                if (Interlocked.Exchange(ref _segmentation, 0) != 0)
                    UdpTransportLog.SegmentationRefused(_logger, errno);
                var run = new ReadOnlySpan<byte>(vectors[done].Base, (int)vectors[done].Length);
                while (!run.IsEmpty)
                {
                    var take = Math.Min(segmentSizes[done], run.Length);
                    SendOne(socket, run[..take], destination, address);
                    run = run[take..];
                }
            }
            else
            {
                CountSendError(runs[done], address, $"errno {errno}");
            }
            done++;
        }
    }

    private void CountSendError(int datagrams, string? address, string error)
    {
        var before = Interlocked.Add(ref _sendErrors, datagrams) - datagrams;
        // The first failure, then one in 1024: a dead network must not flood the log.
        if (before == 0 || (before >> 10) != ((before + datagrams) >> 10))
            UdpTransportLog.SendFailed(_logger, address ?? $"{_group}:{_port}", error, before + datagrams);
    }

    private void ThrowTooLarge(int length) =>
        throw new ArgumentException($"The datagram has {length} bytes; this transport sends at most {_datagramSize} ({UdpTransportOptions.SectionName}:DatagramSize).", "datagram");

    /// <summary>A destination in both forms: for Socket.SendTo and for sendmmsg(2).</summary>
    private sealed class Destination(System.Net.IPEndPoint endPoint)
    {
        public System.Net.SocketAddress Address { get; } = endPoint.Serialize();

        public Interop.SocketAddressV4 Native { get; } = Interop.SocketAddressV4.From(endPoint);
    }
}
