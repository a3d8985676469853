using System.Buffers.Binary;
using Multicast.Messaging.Internal;

namespace Multicast.Messaging;

// Loss repair, both sides. A receiver NAKs a gap as soon as it is real (the receive queue ran empty, or the gap outlived
// the reorder guard) and asks again only after a retry timeout derived from the measured NAK -> repair round trip, per
// segment of what it asked for (NakSchedule). A sender repairs by unicast, or by multicast when a second receiver asks
// for the same packet while a third may miss it too.
public sealed partial class ReliableGroupChannel
{
    // Ranges per NAK (16 bytes each) and packets repaired per NAK: a burst loss is repaired in rounds of this size, one
    // round per round trip.
    private const int MaxNakRanges = 80;
    private const int MaxRepairsPerNak = 256;

    private static readonly TimeSpan MinRetryTimeout = TimeSpan.FromMicroseconds(200);

    // What one check asks for (at most a request window of packets, so at most that many ranges), sent in NAKs of
    // MaxNakRanges ranges each.
    private readonly (long From, long To)[] _nakRanges = new (long, long)[NakSchedule.MaxRequest];
    private readonly List<(OutPacket Packet, string? Address)> _repairBatch = [];

    // The retry timeout's bounds, in timestamp units (set in the constructor).
    private readonly long _minRetryTimeout, _maxRetryTimeout;

    // The earliest moment any stream's NAK may be due (conservative): checked when the receive queue runs empty.
    private long _nakDue = long.MaxValue;

    // Whether the receive thread's queue is empty (it reported idle after its last datagram), and when it last
    // processed one. While it is draining a backlog, a repair may be waiting in it: the timer leaves retries to it.
    private bool _receiveIdle = true;
    private long _lastReceiveAt;

    /// <summary>How long <paramref name="peer"/>'s streams wait for a repair before asking again.</summary>
    private long RetryTimeout(PeerState peer) => peer.RepairRoundTrip.RetryTimeout(_nakRetry, _minRetryTimeout, _maxRetryTimeout);

    /// <summary>A packet below the highest one seen arrived: a repair (a round-trip sample) or a late packet (the path
    /// reorders). Under the lock, on the receive thread.</summary>
    private static void OnMissingArrived(ReceiveStream stream, long sequence, long now)
    {
        if (stream.Naks.OnRepair(sequence, now, out var roundTrip))
        {
            if (roundTrip >= 0)
                stream.Sender.RepairRoundTrip.Add(roundTrip);
        }
        else
        {
            stream.Sender.Reorders = true;
        }
    }

    /// <summary>After a stream changed: tracks its new gaps and drops what arrived from its NAK schedule. A new gap is
    /// NAKed as soon as it outlived the reorder guard, even while a backlog is being read (the stream's packets arrive
    /// in order, so it is real loss); repeated requests wait for an empty receive queue (<see cref="CheckAllNaks"/>).
    /// Under the lock, on the receive thread.</summary>
    private void TrackGaps(ReceiveStream stream, long now)
    {
        var naks = stream.Naks;
        if (!stream.HasGap)
        {
            if (naks.NakedUpTo != 0 || naks.NewGapSince != 0)
                naks.Reset();
            return;
        }
        naks.Advance(stream.Next);
        if (naks.NewGapSince == 0 && stream.Highest > naks.NakedUpTo)
        {
            naks.NewGapSince = now;
            _nakDue = Math.Min(_nakDue, now + _reorderGuard);
            Schedule(now + _reorderGuard);
        }
        if (naks.NewGapSince != 0 && now - naks.NewGapSince >= _reorderGuard)
            CheckNaks(stream, now, idle: false, retries: false);
    }

    /// <summary>The receive queue is empty: NAKs what is due on every stream with a gap, new gaps at once (nothing
    /// can be queued behind them) unless the sender's path was seen to reorder, and repeated requests whose retry timeout
    /// passed (a repair still missing now is not merely behind others in the queue).</summary>
    private void CheckAllNaks(long now)
    {
        var due = long.MaxValue;
        foreach (var peer in _peers.Values)
        {
            due = Math.Min(due, CheckNaks(peer.Broadcast, now, idle: true, retries: true));
            if (peer.Unicast is { } unicast)
                due = Math.Min(due, CheckNaks(unicast, now, idle: true, retries: true));
        }
        _nakDue = due;
        if (due != long.MaxValue)
            Schedule(due);
    }

    /// <summary>Sends one NAK with what <paramref name="stream"/> must ask for now, if anything: new gaps older than the
    /// reorder guard (or any, when <paramref name="idle"/> and the path never reordered), and, when
    /// <paramref name="retries"/>, packets whose retry timeout passed. Returns when its next NAK may be due.</summary>
    private long CheckNaks(ReceiveStream stream, long now, bool idle, bool retries)
    {
        var naks = stream.Naks;
        if (!stream.HasGap)
        {
            naks.Reset();
            return long.MaxValue;
        }
        var retryTimeout = RetryTimeout(stream.Sender);
        var newGapsDue = naks.NewGapSince != 0 && (now - naks.NewGapSince >= _reorderGuard || idle && !stream.Sender.Reorders);
        retries &= now >= naks.RetryDue;
        if (newGapsDue || retries)
        {
            var missing = stream.Missing(stream.Next);
            var count = naks.Collect(ref missing, now, newGapsDue, retries, retryTimeout, _nakRanges);
            var perNak = Math.Min(MaxNakRanges, (_payloadCapacity - 2) / 16);
            for (var first = 0; first < count; first += perNak)
                SendNak(stream, first, Math.Min(perNak, count - first));
            if (naks.TimedOut)
                stream.Sender.RepairRoundTrip.Backoff();
        }
        return naks.NextDue(_reorderGuard);
    }

    /// <summary>Sends <paramref name="count"/> ranges of <see cref="_nakRanges"/> from <paramref name="first"/> on to the
    /// stream's sender.</summary>
    private void SendNak(ReceiveStream stream, int first, int count)
    {
        var payload = ControlPayload;
        BinaryPrimitives.WriteUInt16LittleEndian(payload, (ushort)count);
        var position = 2;
        for (var i = first; i < first + count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(payload[position..], _nakRanges[i].From);
            BinaryPrimitives.WriteInt64LittleEndian(payload[(position + 8)..], _nakRanges[i].To);
            position += 16;
        }
        Interlocked.Increment(ref _counters.naksSent);
        var sender = stream.Sender.Member;
        SendControl(PacketKind.Nak, 0, 0, stream.Unicast ? 1u : 0u, sender.Incarnation, position, [], sender.Address, stream.Epoch);
    }

    /// <summary>A receiver asks for ranges of one of this node's streams: at most <see cref="MaxRepairsPerNak"/> packets,
    /// each by unicast or multicast (<see cref="TryRepair"/>), sent as one batch, and no more than the asker's budget for
    /// that stream allows (<see cref="RepairBudget"/>: the rest is dropped and counted). Only members get here: a NAK
    /// from anyone else is counted as from an unknown sender. Under the lock, on the receive thread.</summary>
    private void OnNak(PeerState peer, in PacketHeader header, ReadOnlySpan<byte> payload)
    {
        Interlocked.Increment(ref _counters.naksReceived);
        var stream = header.FragmentIndex == 0 ? _bcast : peer.UnicastSend;
        if (stream is null)
            return;
        if (header.StreamEpoch != stream.Epoch)
        {
            // A NAK of a previous stream (from before a rejoin or merge): repairing it would resend old packets.
            Interlocked.Increment(ref _counters.staleStream);
            return;
        }
        var reader = new PayloadReader(payload);
        if (!reader.TryReadUInt16(out var count))
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        var now = Now;
        var credit = stream.IsBroadcast
            ? peer.BroadcastRepairs ??= new RepairBudget(stream.HighestTransmitted, now)
            : peer.UnicastRepairs ??= new RepairBudget(stream.HighestTransmitted, now);
        credit.Refill(stream.HighestTransmitted, now, _time.TimestampFrequency);
        var budget = MaxRepairsPerNak;
        var acked = stream.IsBroadcast ? peer.AckedPacket : stream.AckedPacket;
        var askedForAcked = false;
        _repairBatch.Clear();
        for (var r = 0; r < count && budget > 0; r++)
        {
            if (!reader.TryReadInt64(out var from) || !reader.TryReadInt64(out var to))
            {
                Interlocked.Increment(ref _counters.rejectedMalformed);
                break;
            }
            askedForAcked |= from <= acked;
            from = Math.Max(from, stream.Unacked.FirstSequence);
            for (var seq = from; seq <= to && budget > 0; seq++)
            {
                var packet = stream.Unacked.Find(seq);
                if (packet is null || !packet.Transmitted)
                    break;
                budget--;
                if (!credit.CanSpend)
                {
                    Interlocked.Increment(ref _counters.repairsThrottled);
                    continue;
                }
                if (TryRepair(stream, packet, peer, now, out var address))
                {
                    credit.Spend();
                    _repairBatch.Add((packet, address));
                }
            }
        }
        if (_repairBatch.Count > 0)
            TransmitAll(_repairBatch);
        _repairBatch.Clear();
        // It asks for what it acknowledged (and this node may have freed): its state for this node is newer than ours for
        // it (it rejoined and we kept its state). Tell it where the stream starts for it now instead.
        if (askedForAcked)
            AnswerStart(peer, now);
    }

    /// <summary>
    /// How to repair <paramref name="packet"/> for <paramref name="asker"/>: false when a multicast repair of it is on its
    /// way to everyone already; else the destination: the group when another receiver asked for it moments ago and a
    /// third member may miss it too (one datagram serves them all), otherwise the asker alone (a second asker of two
    /// gets its own copy: a multicast would only duplicate it at the first).
    /// </summary>
    private bool TryRepair(SendStream stream, OutPacket packet, PeerState asker, long now, out string? address)
    {
        address = null;
        if (packet.LastMulticastRepair != 0 && now - packet.LastMulticastRepair < _repairWindow)
            return false;
        Interlocked.Increment(ref _counters.retransmissions);
        if (stream.IsBroadcast && packet.LastUnicastRepair != 0 && now - packet.LastUnicastRepair < _repairWindow
            && packet.LastRepairTo != asker.Key && AnotherMayMiss(packet, asker.Key, packet.LastRepairTo))
        {
            packet.LastMulticastRepair = now;
            Interlocked.Increment(ref _counters.multicastRepairs);
            return true;
        }
        packet.LastUnicastRepair = now;
        packet.LastRepairTo = asker.Key;
        address = asker.Member.Address;
        return true;
    }

    /// <summary>Whether a member other than <paramref name="first"/> and <paramref name="second"/> should have the
    /// broadcast packet but has not acknowledged it.</summary>
    private bool AnotherMayMiss(OutPacket packet, MemberKey first, MemberKey second)
    {
        foreach (var peer in _peers.Values)
        {
            if (peer.Key != first && peer.Key != second && peer.AckedPacket < packet.Sequence && peer.BaselinePacket < packet.Sequence)
                return true;
        }
        return false;
    }
}
