using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Multicast.Messaging.Internal;

namespace Multicast.Messaging;

// Sending: sequence numbers, the send window, packetizing (batching and fragmentation), transmission,
// acknowledgements and repairs.
public sealed partial class ReliableGroupChannel
{
    // Packets per flush batch, and the bytes of sealed datagrams one transport batch holds at most.
    private const int MaxFlushPackets = 64;
    private const int MaxBatchBytes = 256 * 1024;

    private readonly object _txLock = new();
    private readonly byte[] _txScratch;
    private readonly byte[] _controlBuffer;
    private long _txCounter;

    private readonly SendStream _bcast;
    private readonly Queue<(OutPacket Packet, SendStream Stream)> _txQueue = new();
    private readonly List<AckWaiter> _ackWaiters = [];
    private readonly List<(OutPacket Packet, string? Address)> _flushBatch = [];

    // Acknowledged packets kept for reuse, so a streaming sender does not allocate a buffer per packet.
    private readonly Stack<OutPacket> _packetPool = new();
    private readonly int _maxPooledPackets;
    private readonly byte[] _txBatch;
    private readonly int[] _txLengths = new int[MaxFlushPackets];
    private bool _flushing;
    private bool _tailWanted; // a WaitForAcksAsync caller asked for a tail while a flush was sending
    private int _receiveThreadId = -1;

    // The send thread, started with the channel: the flushes of streaming callers and of the receive thread's backlogs.
    private const string SendThreadName = "Multicast channel send";
    private readonly SemaphoreSlim _sendSignal = new(0);
    private readonly TaskCompletionSource _sendLoopStopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Thread? _sendThread;
    private bool _sendLoopStopping;

    // Streaming detection: when the last flush ended, and what an inline flush of one packet costs (a moving average).
    private long _lastFlushEnd;
    private long _inlineFlushCost;

    /// <summary>Each stream has its own window (a slow addressee holds only its own stream); a message larger than
    /// the whole window goes out alone, once nothing else of its stream is in flight.</summary>
    private bool HasRoom(SendStream stream, int length) => stream.WindowUsed == 0 || stream.WindowUsed + length <= _options.SendWindowBytes;

    /// <summary>Assigns the sequence number now; packetizes at once when the stream's window has room, else queues.</summary>
    private long Submit(SendStream stream, ReadOnlySpan<byte> message, CancellationToken cancellationToken, out PendingSend? pending)
    {
        var sequence = stream.NextMessage++;
        Interlocked.Increment(ref _counters.messagesSent);
        if (stream.Pending.Count == 0 && HasRoom(stream, message.Length))
        {
            Packetize(stream, message, sequence);
            pending = null;
            return sequence;
        }
        pending = new PendingSend(stream, message.ToArray(), sequence, Now + _sendTimeout);
        if (stream.Pending.Count == 0)
            stream.BlockedSince = Now;
        var node = stream.Pending.AddLast(pending);
        Schedule(pending.Deadline);
        if (cancellationToken.CanBeCanceled)
        {
            pending.Registration = cancellationToken.UnsafeRegister(static (state, token) =>
            {
                var (channel, n) = ((ReliableGroupChannel, LinkedListNode<PendingSend>))state!;
                lock (channel._gate)
                {
                    if (n.List is not { } list)
                        return;
                    list.Remove(n);
                    if (list.Count == 0)
                        n.Value.Stream.BlockedSince = 0;
                }
                n.Value.Completion.TrySetCanceled(token);
            }, (this, node));
        }
        return sequence;
    }

    /// <summary>Admits or faults what waits on every stream.</summary>
    private void AdmitAllPending()
    {
        AdmitPending(_bcast);
        foreach (var peer in _peers.Values)
        {
            if (peer.UnicastSend is { Pending.Count: > 0 } stream)
                AdmitPending(stream);
        }
    }

    /// <summary>Moves waiting messages of one stream into its window, in call order, while they fit; faults expired ones.</summary>
    private void AdmitPending(SendStream stream)
    {
        var now = Now;
        var admitted = false;
        var pending = stream.Pending;
        while (pending.First is { } node)
        {
            var p = node.Value;
            if (stream.Target is { } target && (!_peers.TryGetValue(target.Key, out var current) || current != target))
            {
                pending.RemoveFirst();
                p.Registration.Unregister();
                p.Completion.TrySetException(new InvalidOperationException($"{target.Member} left the view before the message could be sent."));
                continue;
            }
            if (HasRoom(stream, p.Message.Length))
            {
                pending.RemoveFirst();
                Packetize(stream, p.Message, p.Sequence);
                p.Registration.Unregister();
                p.Completion.TrySetResult(p.Sequence);
                admitted = true;
                continue;
            }
            if (now >= p.Deadline)
            {
                pending.RemoveFirst();
                p.Registration.Unregister();
                Interlocked.Increment(ref _counters.sendWindowTimeouts);
                p.Completion.TrySetException(new SendWindowFullException(
                    $"The send window ({_options.SendWindowBytes} bytes) stayed full for {_options.SendTimeout}; members not acknowledging: {Laggards(stream)}."));
                continue;
            }
            Schedule(p.Deadline);
            break;
        }
        if (pending.Count == 0)
            stream.BlockedSince = 0;
        if (admitted)
            RequestFlush();
    }

    private string Laggards(SendStream stream)
    {
        if (stream.Target is { } target)
            return target.Member.ToString();
        var names = new List<string>();
        var first = _bcast.Unacked.Count > 0 ? _bcast.Unacked.FirstSequence : long.MaxValue;
        foreach (var peer in _peers.Values)
        {
            if (peer.AckedPacket < first)
                names.Add(peer.Member.ToString());
        }
        return names.Count == 0 ? "none" : string.Join(", ", names);
    }

    private void Packetize(SendStream stream, ReadOnlySpan<byte> message, long sequence)
    {
        var capacity = _payloadCapacity;
        if (message.Length + 2 <= capacity)
        {
            var packet = stream.OpenBatch;
            if (packet is null || packet.Length + 2 + message.Length > PacketHeader.Size + capacity)
            {
                packet = NewPacket(stream, sequence, 0, 0);
                stream.OpenBatch = packet;
            }
            var buffer = packet.Buffer.AsSpan();
            BinaryPrimitives.WriteUInt16LittleEndian(buffer[packet.Length..], (ushort)message.Length);
            message.CopyTo(buffer[(packet.Length + 2)..]);
            packet.Length += 2 + message.Length;
            packet.LastMessage = sequence;
            PacketHeader.WritePayloadLength(buffer, packet.Length - PacketHeader.Size);
            stream.WindowUsed += 2 + message.Length;
        }
        else
        {
            stream.OpenBatch = null;
            var total = message.Length;
            var count = (total + 4 + capacity - 1) / capacity;
            var offset = 0;
            for (var i = 0; i < count; i++)
            {
                var room = i == 0 ? capacity - 4 : capacity;
                var take = Math.Min(room, total - offset);
                var packet = NewPacket(stream, sequence, (uint)i, (uint)count);
                var buffer = packet.Buffer.AsSpan();
                if (i == 0)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(buffer[PacketHeader.Size..], total);
                    packet.Length += 4;
                }
                message.Slice(offset, take).CopyTo(buffer[packet.Length..]);
                packet.Length += take;
                offset += take;
                packet.Closed = true;
                PacketHeader.WritePayloadLength(buffer, packet.Length - PacketHeader.Size);
                stream.WindowUsed += packet.Length - PacketHeader.Size;
            }
        }
        stream.LastPacketizedMessage = sequence;
    }

    private OutPacket NewPacket(SendStream stream, long firstMessage, uint fragmentIndex, uint fragmentCount)
    {
        var packet = RentPacket().Reset(stream.NextPacket++, firstMessage);
        var header = new PacketHeader
        {
            Kind = stream.IsBroadcast ? PacketKind.Data : PacketKind.UnicastData,
            ClusterHash = _clusterHash,
            SenderHash = _localKey.Hash,
            Incarnation = _localKey.Incarnation,
            Sequence = packet.Sequence,
            MessageSequence = firstMessage,
            FragmentIndex = fragmentIndex,
            FragmentCount = fragmentCount,
            TargetIncarnation = stream.Target?.Member.Incarnation ?? 0,
            StreamEpoch = stream.Epoch,
        };
        header.Write(packet.Buffer);
        stream.Unacked.Add(packet);
        stream.WindowUsed += PacketHeader.Size;
        _txQueue.Enqueue((packet, stream));
        return packet;
    }

    /// <summary>A free packet with room for a whole datagram: a returned one, or a new one. Under <see cref="_gate"/>.</summary>
    private OutPacket RentPacket() => _packetPool.TryPop(out var packet) ? packet : new OutPacket(new byte[PacketHeader.Size + _payloadCapacity]);

    /// <summary>Frees an acknowledged packet from the window and keeps it for reuse (up to a window's worth; one a flush
    /// is still sending is left to the collector). Under <see cref="_gate"/>.</summary>
    private void ReturnPacket(SendStream stream, OutPacket packet)
    {
        stream.WindowUsed -= packet.Length;
        if (!packet.InFlight && _packetPool.Count < _maxPooledPackets)
            _packetPool.Push(packet);
    }

    /// <summary>
    /// Transmits queued packets. The first caller becomes the flusher; later callers only queue (so their small
    /// messages are batched and their packets leave in one transport batch). An isolated send is transmitted at once on
    /// the caller's thread. A caller that comes back sooner than an inline send takes is streaming: its flush goes to
    /// the channel's send thread, so the caller goes on packetizing while that thread sends what piled up, in batches.
    /// On the receive thread (replies sent from the handler) the flusher sends one small batch itself and hands any
    /// larger backlog to the send thread, so receiving never waits on it.
    /// </summary>
    private void RequestFlush()
    {
        bool streaming;
        lock (_gate)
        {
            if (_flushing || _txQueue.Count == 0)
                return;
            _flushing = true;
            streaming = Now - _lastFlushEnd < 2 * _inlineFlushCost;
        }
        var receiveThread = Environment.CurrentManagedThreadId == Volatile.Read(ref _receiveThreadId);
        if (streaming && !receiveThread)
        {
            _sendSignal.Release();
            return;
        }
        var started = Now;
        var single = FlushLoop(receiveThread);
        if (single)
        {
            // What sending one packet inline costs, smoothed (1/8 of each new sample).
            var cost = Now - started;
            lock (_gate)
                _inlineFlushCost += (cost - _inlineFlushCost) / 8;
        }
    }

    /// <summary>The send thread: runs the flushes handed to it (one at a time: the hand-off is made by the flusher)
    /// until the channel is disposed.</summary>
    private void SendLoop()
    {
        try
        {
            while (true)
            {
                _sendSignal.Wait();
                if (Volatile.Read(ref _sendLoopStopping))
                    return;
                try
                {
                    FlushLoop(false);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    // Nothing escapes the thread; the next send flushes what is left.
                    Log.SendLoopFailed(_log, ex);
                    lock (_gate)
                        _flushing = false;
                }
            }
        }
        finally
        {
            _sendLoopStopped.TrySetResult();
        }
    }

    /// <summary>Stops the send thread (after the flush it may be running) and waits for it.</summary>
    private async ValueTask StopSendLoopAsync()
    {
        if (_sendThread is null)
            return;
        Volatile.Write(ref _sendLoopStopping, true);
        _sendSignal.Release();
        await _sendLoopStopped.Task.ConfigureAwait(false);
    }

    /// <summary>Sends the queue in batches until it is empty. Returns whether it sent exactly one packet.</summary>
    private bool FlushLoop(bool receiveThread)
    {
        var total = 0;
        while (true)
        {
            lock (_gate)
            {
                _flushBatch.Clear();
                if (_txQueue.Count == 0 || _disposed)
                {
                    _flushing = false;
                    _lastFlushEnd = Now;
                    ScheduleTails();
                    if (_tailWanted && !_disposed && _peers.Count > 0)
                        SendTail(_bcast);
                    _tailWanted = false;
                    return total == 1;
                }
                if (receiveThread && _txQueue.Count > 4)
                {
                    _sendSignal.Release();
                    return false;
                }
                while (_flushBatch.Count < MaxFlushPackets && _txQueue.TryDequeue(out var item))
                {
                    var (packet, stream) = item;
                    if (stream.OpenBatch == packet)
                        stream.OpenBatch = null;
                    packet.Closed = true;
                    packet.Transmitted = true;
                    packet.InFlight = true;
                    stream.HighestTransmitted = packet.Sequence;
                    _flushBatch.Add((packet, stream.Target?.Member.Address));
                }
            }
            // The packets are closed: nothing mutates them, so they are sent outside the channel lock.
            total += _flushBatch.Count;
            TransmitAll(_flushBatch);
            lock (_gate)
            {
                foreach (var (packet, _) in _flushBatch)
                    packet.InFlight = false;
                if (_peers.Count == 0)
                    FreeBroadcast();
            }
        }
    }

    private void ScheduleTails()
    {
        var now = Now;
        ArmTail(_bcast, now);
        foreach (var peer in _peers.Values)
        {
            if (peer.UnicastSend is { } stream)
                ArmTail(stream, now);
        }
    }

    private void ArmTail(SendStream stream, long now)
    {
        if (stream.Unacked.Count == 0)
            return;
        stream.TailBackoff = _tailDelay;
        stream.TailDue = now + _tailDelay;
        Schedule(stream.TailDue);
    }

    /// <summary>Seals and sends one datagram. Thread-safe; the counter makes every transmission unique.</summary>
    private void Transmit(ReadOnlySpan<byte> packet, string? address)
    {
        lock (_txLock)
        {
            if (_disposed)
                return;
            var length = _protector.Seal(packet, ++_txCounter, _txScratch);
            try
            {
                if (address is null)
                    _transport.SendToGroup(_txScratch.AsSpan(0, length));
                else
                    _transport.SendTo(address, _txScratch.AsSpan(0, length));
                Interlocked.Increment(ref _counters.datagramsSent);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Interlocked.Increment(ref _counters.sendErrors);
                Log.SendFailed(_log, address ?? "group", ex);
            }
        }
    }

    /// <summary>Seals and sends packets in order; consecutive ones to the same destination go to the transport as one
    /// batch (one system call, one segmented buffer per run of equal sizes). Thread-safe.</summary>
    private void TransmitAll(List<(OutPacket Packet, string? Address)> packets)
    {
        if (packets.Count == 1)
        {
            Transmit(packets[0].Packet.Span, packets[0].Address);
            return;
        }
        lock (_txLock)
        {
            if (_disposed)
                return;
            var i = 0;
            while (i < packets.Count)
            {
                var address = packets[i].Address;
                var count = 0;
                var used = 0;
                while (i < packets.Count && count < _txLengths.Length && used + _options.DatagramSize <= _txBatch.Length
                    && string.Equals(packets[i].Address, address, StringComparison.Ordinal))
                {
                    var length = _protector.Seal(packets[i].Packet.Span, ++_txCounter, _txBatch.AsSpan(used));
                    _txLengths[count++] = length;
                    used += length;
                    i++;
                }
                try
                {
                    if (address is null)
                        _transport.SendBatchToGroup(_txBatch.AsSpan(0, used), _txLengths.AsSpan(0, count));
                    else
                        _transport.SendBatchTo(address, _txBatch.AsSpan(0, used), _txLengths.AsSpan(0, count));
                    Interlocked.Add(ref _counters.datagramsSent, count);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    Interlocked.Add(ref _counters.sendErrors, count);
                    Log.SendFailed(_log, address ?? "group", ex);
                }
            }
        }
    }

    /// <summary>Builds and transmits a control datagram. Under <see cref="_gate"/> (it uses a shared buffer).</summary>
    private void SendControl(PacketKind kind, long sequence, long messageSequence, uint fragmentIndex, long targetIncarnation,
        int payloadLength, ReadOnlySpan<byte> payload, string? address, long epoch = 0)
    {
        var header = new PacketHeader
        {
            Kind = kind,
            ClusterHash = _clusterHash,
            SenderHash = _localKey.Hash,
            Incarnation = _localKey.Incarnation,
            Sequence = sequence,
            MessageSequence = messageSequence,
            FragmentIndex = fragmentIndex,
            TargetIncarnation = targetIncarnation,
            PayloadLength = (ushort)(payload.IsEmpty ? payloadLength : payload.Length),
            StreamEpoch = epoch,
        };
        var buffer = _controlBuffer.AsSpan();
        header.Write(buffer);
        if (!payload.IsEmpty)
            payload.CopyTo(buffer[PacketHeader.Size..]);
        Transmit(buffer[..(PacketHeader.Size + header.PayloadLength)], address);
    }

    /// <summary>The payload area of the control buffer, for payloads written in place before <see cref="SendControl"/>.</summary>
    private Span<byte> ControlPayload => _controlBuffer.AsSpan(PacketHeader.Size, _payloadCapacity);

    /// <summary>A cumulative acknowledgement. One of another epoch is about a previous stream (from before a rejoin or a
    /// merge) and must not free or confirm the current one; one that claims more than this node sent is hostile (it would
    /// free packets the receiver never had, and the stream would stall for good): both dropped and counted.</summary>
    private void OnAck(PeerState peer, in PacketHeader header)
    {
        var stream = header.FragmentIndex == 0 ? _bcast : peer.UnicastSend;
        if (stream is not null && header.StreamEpoch != stream.Epoch)
        {
            Interlocked.Increment(ref _counters.staleStream);
            return;
        }
        if (header.FragmentIndex == 0)
        {
            if (header.Sequence > _bcast.HighestTransmitted || header.MessageSequence > _bcast.LastPacketizedMessage)
            {
                Interlocked.Increment(ref _counters.rejectedAcks);
                return;
            }
            peer.StartConfirmed = true;
            if (header.Sequence > peer.AckedPacket)
            {
                peer.AckedPacket = header.Sequence;
                peer.BehindSince = 0;
            }
            if (header.MessageSequence > peer.AckedMessage)
                peer.AckedMessage = header.MessageSequence;
            FreeBroadcast();
            CheckAckWaiters();
        }
        else if (stream is not null)
        {
            if (header.Sequence > stream.HighestTransmitted)
            {
                Interlocked.Increment(ref _counters.rejectedAcks);
                return;
            }
            if (header.Sequence > stream.AckedPacket)
                stream.AckedPacket = header.Sequence;
            while (stream.Unacked.Count > 0 && stream.Unacked.FirstSequence <= stream.AckedPacket)
                ReturnPacket(stream, stream.Unacked.RemoveFirst());
            if (stream.Unacked.Count == 0)
                stream.TailDue = 0;
            if (stream.Pending.Count > 0)
                AdmitPending(stream);
        }
    }

    /// <summary>Frees the broadcast packets every member of the view acknowledged.</summary>
    private void FreeBroadcast()
    {
        var ring = _bcast.Unacked;
        var freed = false;
        while (ring.Count > 0)
        {
            var first = ring.Peek();
            if (!first.Transmitted)
                break;
            var all = true;
            foreach (var peer in _peers.Values)
            {
                if (peer.AckedPacket < first.Sequence)
                {
                    all = false;
                    break;
                }
            }
            if (!all)
                break;
            ReturnPacket(_bcast, ring.RemoveFirst());
            freed = true;
        }
        if (ring.Count == 0)
            _bcast.TailDue = 0;
        if (freed && _bcast.Pending.Count > 0)
            AdmitPending(_bcast);
    }

    private bool IsSatisfied(AckWaiter waiter)
    {
        if (waiter.Members <= 0)
            return true;
        int eligible = 0, acked = 0;
        foreach (var peer in _peers.Values)
        {
            if (peer.BaselineMessage >= waiter.Sequence)
                continue; // it joined after the message was sent: it never gets it
            eligible++;
            if (peer.AckedMessage >= waiter.Sequence)
                acked++;
        }
        return acked >= Math.Min(waiter.Members, eligible);
    }

    private void CheckAckWaiters()
    {
        for (var i = _ackWaiters.Count - 1; i >= 0; i--)
        {
            var waiter = _ackWaiters[i];
            if (IsSatisfied(waiter))
            {
                _ackWaiters.RemoveAt(i);
                waiter.Registration.Unregister();
                waiter.Completion.TrySetResult();
            }
        }
    }

    private void SendTail(SendStream stream)
    {
        SendControl(PacketKind.Tail, stream.HighestTransmitted, stream.LastPacketizedMessage, stream.IsBroadcast ? 0u : 1u,
            stream.Target?.Member.Incarnation ?? 0, 0, [], stream.Target?.Member.Address, stream.Epoch);
    }

    private static partial class Log
    {
        [LoggerMessage(40, LogLevel.Error, "Unexpected error on the channel's send thread; what it did not send goes out with the next send")]
        public static partial void SendLoopFailed(ILogger logger, Exception exception);
    }
}
