using System.Buffers;
using System.Buffers.Binary;
using Multicast.Messaging.Internal;

namespace Multicast.Messaging;

// Receiving: validation, the replay window, per-stream ordering, reassembly, delivery, acks and NAKs.
public sealed partial class ReliableGroupChannel
{
    private const int MaxBufferedPackets = 65_536;

    // At an idle receive queue, a deferred ack goes out early only once this many packets wait for it. A request or a
    // reply (a packet or two per stream) leaves its ack to the end of the ack interval, where it covers the packets that
    // followed: in request/response traffic a message then costs one datagram instead of two. A burst is still
    // acknowledged as it ends, and a sender that waits for an ack asks for it with a tail (answered at once).
    private const int IdleAckPackets = 16;

    private readonly byte[] _rxScratch;
    private readonly Dictionary<MemberKey, ReplayWindow> _replay = [];
    private readonly List<Delivery> _deliveries = [];
    private readonly List<byte[]> _returnAfterDelivery = [];
    private MembershipView? _viewToAnnounce;
    private MembershipView? _excludedToAnnounce;
    private bool _joinedToAnnounce; // StartAsync completes once the handler was told of the first view
    private readonly List<ReceiveStream> _acksDeferred = [];
    private readonly List<ReceiveStream> _touched = [];

    /// <summary>The receive queue is empty: acknowledge now what the last burst delivered.</summary>
    private void OnReceiveIdle()
    {
        try
        {
            lock (_gate)
            {
                if (_disposed)
                    return;
                _receiveIdle = true;
                var now = Now;
                // Nothing more is queued: a gap now is real loss, and a repair still missing is not merely behind others.
                if (_nakDue != long.MaxValue)
                    CheckAllNaks(now);
                for (var i = _acksDeferred.Count - 1; i >= 0; i--)
                {
                    var stream = _acksDeferred[i];
                    var current = stream.AckDue != 0 && (stream.Sender.Broadcast == stream || stream.Sender.Unicast == stream) && _peers.ContainsKey(stream.Sender.Key);
                    if (current && stream.AckPacket - stream.AckedSentPacket < IdleAckPackets)
                        continue; // the timer sends it at the end of the interval
                    if (current)
                        SendAck(stream, now);
                    _acksDeferred.RemoveAt(i);
                }
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.ReceiveFailed(_log, ex);
        }
    }

    /// <summary>One datagram, on the transport's receive thread. Never throws.</summary>
    private void OnDatagram(ReadOnlySpan<byte> datagram)
    {
        _receiveThreadId = Environment.CurrentManagedThreadId;
        Interlocked.Increment(ref _counters.datagramsReceived);
        var started = Now;
        Volatile.Write(ref _receiveBusySince, started);
        try
        {
            if (_local is null || _disposed)
                return;
            if (datagram.Length > _options.DatagramSize)
            {
                Interlocked.Increment(ref _counters.rejectedOversize);
                return;
            }
            if (!PacketHeader.TryRead(datagram, out var header))
            {
                Interlocked.Increment(ref _counters.rejectedMalformed);
                return;
            }
            if (header.ClusterHash != _clusterHash)
            {
                Interlocked.Increment(ref _counters.rejectedForeignCluster);
                return;
            }
            switch (_protector.TryOpen(datagram, header, _rxScratch, out var payload))
            {
                case OpenResult.Ok:
                    break;
                case OpenResult.Forged:
                    Interlocked.Increment(ref _counters.rejectedForged);
                    return;
                default:
                    Interlocked.Increment(ref _counters.rejectedMalformed);
                    return;
            }
            var sender = new MemberKey(header.SenderHash, header.Incarnation);
            if (!AcceptCounter(sender, header.Counter))
            {
                Interlocked.Increment(ref _counters.rejectedReplayed);
                return;
            }
            lock (_gate)
            {
                if (_disposed)
                    return;
                Dispatch(sender, header, payload);
            }
            Deliver(payload);
            if (_touched.Count > 0)
                AcknowledgeDelivered();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.ReceiveFailed(_log, ex);
            _deliveries.Clear();
            _viewToAnnounce = null;
            _excludedToAnnounce = null;
            _touched.Clear();
        }
        finally
        {
            Volatile.Write(ref _receiveBusySince, 0);
            var now = Now;
            if (now - started > _stallThreshold)
                OnReceiveStall(started, now);
        }
    }

    /// <summary>The handler (or this thread) held one datagram for longer than a heartbeat interval: nothing was heard meanwhile.</summary>
    private void OnReceiveStall(long since, long now)
    {
        try
        {
            lock (_gate)
            {
                if (!_disposed)
                    CreditStall(since, now, timer: false);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.ReceiveFailed(_log, ex);
        }
    }

    /// <summary>After the handler returned: what it was given may now be acknowledged.</summary>
    private void AcknowledgeDelivered()
    {
        lock (_gate)
        {
            var now = Now;
            foreach (var stream in _touched)
            {
                stream.Touched = false;
                stream.AckPacket = stream.Next - 1;
                stream.AckMessage = stream.ProcessedMessage;
                if (stream.AckPacket > stream.AckedSentPacket && !_disposed
                    && _peers.TryGetValue(stream.Sender.Key, out var peer) && peer == stream.Sender)
                {
                    MaybeAck(stream, now);
                }
            }
            _touched.Clear();
        }
    }

    private bool AcceptCounter(MemberKey sender, long counter)
    {
        if (!_replay.TryGetValue(sender, out var window))
        {
            if (_replay.Count >= 4096)
            {
                // Forged senders could grow this without bound. Forget the ones outside the view.
                lock (_gate)
                {
                    foreach (var key in _replay.Keys.ToArray())
                    {
                        if (key != _localKey && !_peers.ContainsKey(key))
                            _replay.Remove(key);
                    }
                }
            }
            window = new ReplayWindow();
            _replay[sender] = window;
        }
        return window.TryAccept(counter);
    }

    private void Dispatch(MemberKey sender, in PacketHeader header, ReadOnlySpan<byte> payload)
    {
        if (sender == _localKey)
        {
            // Our own multicast looped back, or our proposal sent to ourselves so it is installed on this thread.
            if (header.Kind == PacketKind.View && header.FragmentCount == 0)
                OnOwnView(header.Sequence);
            return;
        }
        var now = Now;
        _receiveIdle = false;
        _lastReceiveAt = now;
        if (_peers.TryGetValue(sender, out var peer))
            peer.LastReceived = now;
        switch (header.Kind)
        {
            case PacketKind.Join:
            case PacketKind.View:
                OnControlMessage(sender, peer, header, payload);
                return;
            case PacketKind.Heartbeat:
                OnHeartbeat(sender, peer, header, payload);
                return;
            case PacketKind.Leave:
                OnLeave(sender, peer, payload);
                return;
            case PacketKind.ViewAck:
                OnViewAck(sender, header);
                return;
        }
        if (peer is null)
        {
            Interlocked.Increment(ref _counters.unknownSender);
            return;
        }
        var unicastStream = header.FragmentIndex == 1;
        switch (header.Kind)
        {
            case PacketKind.Data:
                OnData(peer.Broadcast, header, payload, now);
                break;
            case PacketKind.UnicastData:
                if (header.TargetIncarnation != _localKey.Incarnation)
                    return; // for an earlier incarnation of this node
                OnData(peer.Unicast ??= new ReceiveStream(peer, unicast: true), header, payload, now);
                break;
            case PacketKind.Tail:
            {
                if (unicastStream && header.TargetIncarnation != _localKey.Incarnation)
                    return;
                var stream = unicastStream ? peer.Unicast ??= new ReceiveStream(peer, unicast: true) : peer.Broadcast;
                if (Follows(stream, header.StreamEpoch))
                    OnTail(stream, header.Sequence, now);
                break;
            }
            case PacketKind.Ack:
                if (header.TargetIncarnation == _localKey.Incarnation)
                    OnAck(peer, header);
                break;
            case PacketKind.Nak:
                if (header.TargetIncarnation == _localKey.Incarnation)
                    OnNak(peer, header, payload);
                break;
            case PacketKind.StreamStart:
                if (header.TargetIncarnation != _localKey.Incarnation)
                    return;
                if (payload.Length != 24)
                {
                    Interlocked.Increment(ref _counters.rejectedMalformed);
                    return;
                }
                OnStreamStarts(peer, header.StreamEpoch, header.Sequence, header.MessageSequence, BinaryPrimitives.ReadInt64LittleEndian(payload),
                    BinaryPrimitives.ReadInt64LittleEndian(payload[8..]), BinaryPrimitives.ReadInt64LittleEndian(payload[16..]), now);
                break;
            case PacketKind.StartRequest:
                if (header.TargetIncarnation == _localKey.Incarnation)
                    AnswerStart(peer, now);
                break;
            case PacketKind.Suspect:
                OnSuspect(sender, peer, header, payload);
                break;
        }
    }

    private void OnData(ReceiveStream stream, in PacketHeader header, ReadOnlySpan<byte> payload, long now)
    {
        if (!Follows(stream, header.StreamEpoch))
            return;
        var seq = header.Sequence;
        var missing = seq < stream.Highest;
        if (seq > stream.Highest)
            stream.Highest = seq;
        if (seq < stream.Next || stream.Buffered.ContainsKey(seq))
        {
            Interlocked.Increment(ref _counters.duplicates);
            if (stream.StartKnown && seq < stream.Next)
                MaybeAck(stream, now); // the sender repeats what we have: our ack may have been lost
            return;
        }
        if (missing && stream.StartKnown)
            OnMissingArrived(stream, seq, now);
        if (stream.StartKnown && seq == stream.Next)
        {
            Process(stream, header.MessageSequence, header.FragmentIndex, header.FragmentCount, payload, null);
            stream.Next++;
            Drain(stream);
        }
        else
        {
            Hold(stream, header, payload);
            if (!stream.StartKnown)
                RequestStart(stream, now);
        }
        AfterProgress(stream, now);
    }

    /// <summary>
    /// Whether a datagram of the sender's stream epoch <paramref name="epoch"/> belongs to <paramref name="stream"/> as this
    /// node follows it. An older epoch is the sender's previous stream (from before it or this node rejoined or merged, with
    /// the same incarnation): its packets reuse the sequence numbers of the current one, so they are counted and ignored,
    /// never delivered in place of the current stream's. A newer epoch restarts the stream: what was held of the old one is
    /// dropped, and the new one is delivered from where its sender says it starts.
    /// </summary>
    private bool Follows(ReceiveStream stream, long epoch)
    {
        if (epoch == stream.Epoch)
            return true;
        if (epoch < stream.Epoch || epoch <= 0)
        {
            Interlocked.Increment(ref _counters.staleStream);
            return false;
        }
        stream.Restart(epoch);
        return true;
    }

    /// <summary>A stream whose start this node does not know has traffic: asks its sender where it starts (again after a
    /// back-off, from the NAK retry interval up to a heartbeat interval, until a StreamStart arrives), rather than wait
    /// for the sender's next announcement, which may never come (it saw an acknowledgement from this node's earlier state).</summary>
    private void RequestStart(ReceiveStream stream, long now)
    {
        if (stream.StartKnown || stream.Epoch == 0 || stream.StartRequestedAt != 0 && now - stream.StartRequestedAt < stream.StartRequestBackoff)
            return;
        stream.StartRequestBackoff = stream.StartRequestedAt == 0 ? _nakRetry : Math.Min(2 * stream.StartRequestBackoff, _heartbeatInterval);
        stream.StartRequestedAt = now;
        var sender = stream.Sender.Member;
        SendControl(PacketKind.StartRequest, 0, 0, stream.Unicast ? 1u : 0u, sender.Incarnation, 0, [], sender.Address, stream.Epoch);
        Schedule(now + stream.StartRequestBackoff);
    }

    private void Hold(ReceiveStream stream, in PacketHeader header, ReadOnlySpan<byte> payload)
    {
        if (stream.Buffered.Count >= MaxBufferedPackets)
            return; // repaired later
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(payload.Length, 1));
        payload.CopyTo(buffer);
        stream.Buffered[header.Sequence] = new BufferedPacket(buffer, payload.Length, header.MessageSequence, header.FragmentIndex, header.FragmentCount);
    }

    private void Drain(ReceiveStream stream)
    {
        while (stream.Buffered.Count > 0)
        {
            var (seq, packet) = stream.Buffered.First();
            if (seq > stream.Next)
                return;
            stream.Buffered.Remove(seq);
            if (seq == stream.Next)
            {
                Process(stream, packet.MessageSequence, packet.FragmentIndex, packet.FragmentCount, packet.Buffer.AsSpan(0, packet.Length), packet.Buffer);
                stream.Next++;
            }
            else
            {
                ArrayPool<byte>.Shared.Return(packet.Buffer); // before the stream's start
            }
        }
    }

    /// <summary>Processes the next packet of a stream, in order. <paramref name="owner"/> holds the payload when
    /// it was buffered (returned to the pool after delivery); null when it is the current datagram.</summary>
    private void Process(ReceiveStream stream, long messageSequence, uint fragmentIndex, uint fragmentCount, ReadOnlySpan<byte> payload, byte[]? owner)
    {
        if (owner is not null)
            _returnAfterDelivery.Add(owner);
        if (fragmentCount == 0)
        {
            var position = 0;
            var sequence = messageSequence;
            while (position + 2 <= payload.Length)
            {
                var length = BinaryPrimitives.ReadUInt16LittleEndian(payload[position..]);
                if (position + 2 + length > payload.Length)
                {
                    Interlocked.Increment(ref _counters.rejectedMalformed);
                    break;
                }
                _deliveries.Add(new Delivery(stream.Sender.Member, sequence, stream.Unicast, owner, position + 2, length));
                stream.ProcessedMessage = sequence;
                position += 2 + length;
                sequence++;
            }
            return;
        }
        if (fragmentIndex == 0)
        {
            ResetReassembly(stream);
            if (payload.Length < 4)
                return;
            var total = BinaryPrimitives.ReadInt32LittleEndian(payload);
            if (total <= 0 || total > _options.MaxMessageBytes)
            {
                Interlocked.Increment(ref _counters.rejectedMalformed);
                return;
            }
            stream.Reassembly = ArrayPool<byte>.Shared.Rent(total);
            stream.ReassemblyLength = total;
            stream.ReassemblyFilled = 0;
            stream.ReassemblyMessage = messageSequence;
            stream.ReassemblyNextFragment = 0;
            payload = payload[4..];
        }
        if (stream.Reassembly is null || fragmentIndex != stream.ReassemblyNextFragment || messageSequence != stream.ReassemblyMessage
            || stream.ReassemblyFilled + payload.Length > stream.ReassemblyLength)
        {
            ResetReassembly(stream);
            return;
        }
        payload.CopyTo(stream.Reassembly.AsSpan(stream.ReassemblyFilled));
        stream.ReassemblyFilled += payload.Length;
        stream.ReassemblyNextFragment++;
        if (fragmentIndex == fragmentCount - 1)
        {
            if (stream.ReassemblyFilled == stream.ReassemblyLength)
            {
                _deliveries.Add(new Delivery(stream.Sender.Member, messageSequence, stream.Unicast, stream.Reassembly, 0, stream.ReassemblyLength));
                _returnAfterDelivery.Add(stream.Reassembly);
                stream.ProcessedMessage = messageSequence;
                stream.Reassembly = null;
            }
            else
            {
                ResetReassembly(stream);
            }
        }
    }

    private static void ResetReassembly(ReceiveStream stream)
    {
        if (stream.Reassembly is not null)
            ArrayPool<byte>.Shared.Return(stream.Reassembly);
        stream.Reassembly = null;
    }

    private void AfterProgress(ReceiveStream stream, long now)
    {
        TrackGaps(stream, now);
        if (stream.StartKnown && !stream.Touched)
        {
            stream.Touched = true;
            _touched.Add(stream);
        }
    }

    /// <summary>Acks at once when the last ack is older than the ack interval, else at the end of it.</summary>
    private void MaybeAck(ReceiveStream stream, long now)
    {
        if (now - stream.LastAckSent >= _ackInterval)
        {
            SendAck(stream, now);
        }
        else if (stream.AckDue == 0)
        {
            stream.AckDue = stream.LastAckSent + _ackInterval;
            _acksDeferred.Add(stream);
            Schedule(stream.AckDue);
        }
    }

    private void SendAck(ReceiveStream stream, long now)
    {
        stream.LastAckSent = now;
        stream.AckDue = 0;
        stream.AckedSentPacket = stream.AckPacket;
        var sender = stream.Sender.Member;
        SendControl(PacketKind.Ack, stream.AckPacket, stream.AckMessage, stream.Unicast ? 1u : 0u, sender.Incarnation, 0, [], sender.Address, stream.Epoch);
    }

    private void OnTail(ReceiveStream stream, long highest, long now)
    {
        if (highest > stream.Highest)
            stream.Highest = highest;
        if (!stream.StartKnown)
        {
            RequestStart(stream, now);
            return;
        }
        if (stream.HasGap)
            AfterProgress(stream, now);
        else if (stream.AckPacket > stream.AckedSentPacket)
            SendAck(stream, now); // the sender is waiting for the ack of what we delivered: not at the end of the interval
        else
            MaybeAck(stream, now); // the sender lost our ack
    }

    /// <summary>Where a peer's streams start for this node: its broadcast stream (epoch, first packet, the message before
    /// it, the highest packet sent) and its unicast stream to this node (epoch, first packet).</summary>
    private void OnStreamStarts(PeerState peer, long epoch, long start, long baselineMessage, long highest, long unicastEpoch, long unicastStart, long now)
    {
        OnStreamStart(peer.Broadcast, epoch, start, baselineMessage, highest, now);
        OnStreamStart(peer.Unicast ??= new ReceiveStream(peer, unicast: true), unicastEpoch, unicastStart, 0, 0, now);
    }

    private void OnStreamStart(ReceiveStream stream, long epoch, long start, long baselineMessage, long highest, long now)
    {
        if (start < 1 || !Follows(stream, epoch))
            return;
        if (stream.StartKnown)
        {
            if (start <= stream.Next)
            {
                if (highest > stream.Highest)
                    OnTail(stream, highest, now);
                return;
            }
            // The sender no longer has what lies before its start for us: this node acknowledged it in an earlier state
            // (before it rejoined, when the sender kept its own state), so it was delivered then. Go on from there.
            ResetReassembly(stream);
            stream.Naks.Reset();
        }
        stream.StartKnown = true;
        stream.Next = start;
        stream.ProcessedMessage = Math.Max(stream.ProcessedMessage, baselineMessage);
        stream.AckPacket = start - 1;
        stream.AckMessage = Math.Max(stream.AckMessage, baselineMessage);
        if (highest > stream.Highest)
            stream.Highest = highest;
        if (start - 1 > stream.Highest)
            stream.Highest = start - 1;
        Drain(stream);
        AfterProgress(stream, now);
        if (!stream.Unicast || stream.AckPacket > 0)
            SendAck(stream, now); // confirms the start (the broadcast ack): the sender stops announcing it
    }

    /// <summary>Hands what <see cref="Dispatch"/> produced to the handler, outside the lock, on this thread.</summary>
    private void Deliver(ReadOnlySpan<byte> payload)
    {
        var handler = _handler!;
        if (_excludedToAnnounce is { } last)
        {
            _excludedToAnnounce = null;
            try
            {
                handler.OnExcluded(last);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Interlocked.Increment(ref _counters.handlerErrors);
                Log.HandlerFailed(_log, ex);
            }
        }
        if (_viewToAnnounce is { } view)
        {
            _viewToAnnounce = null;
            try
            {
                handler.OnViewChanged(view);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Interlocked.Increment(ref _counters.handlerErrors);
                Log.HandlerFailed(_log, ex);
            }
        }
        if (_joinedToAnnounce)
        {
            _joinedToAnnounce = false;
            _joined.TrySetResult();
        }
        if (_deliveries.Count > 0)
        {
            foreach (var d in _deliveries)
            {
                var span = d.Owner is null ? payload.Slice(d.Offset, d.Length) : d.Owner.AsSpan(d.Offset, d.Length);
                try
                {
                    handler.OnMessage(d.Sender, d.Sequence, span, d.Unicast);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    Interlocked.Increment(ref _counters.handlerErrors);
                    Log.HandlerFailed(_log, ex);
                }
            }
            Interlocked.Add(ref _counters.delivered, _deliveries.Count);
            _deliveries.Clear();
        }
        foreach (var buffer in _returnAfterDelivery)
            ArrayPool<byte>.Shared.Return(buffer);
        _returnAfterDelivery.Clear();
    }

    /// <summary>A message ready for the handler: a slice of the current payload, or of a pooled buffer.</summary>
    private readonly record struct Delivery(Member Sender, long Sequence, bool Unicast, byte[]? Owner, int Offset, int Length);
}
