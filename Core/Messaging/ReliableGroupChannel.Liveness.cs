using System.Buffers.Binary;
using Multicast.Messaging.Internal;

namespace Multicast.Messaging;

// Liveness: heartbeats, suspicion, members that hold the broadcast window, and this node's own stalls (a node
// that was not scheduled, or whose receive thread was stuck, does not count that time against its peers).
public sealed partial class ReliableGroupChannel
{
    private const byte HeartbeatStalled = 1;
    private const int SilentHeartbeats = 3; // a member not heard for this many heartbeat intervals is not judged slow

    private readonly long _stallThreshold, _slowMemberTimeout;
    private long _lastHeartbeat;
    private long _receiveBusySince; // when the receive thread started on its current datagram; 0 while it waits
    private long _stallCreditedUntil; // stalls overlap (a late timer while the receive thread is stuck): credit each moment once
    private long _timerStallUntil; // the same, for the late-timer stalls that heartbeats report
    private long _reportedStallMicros; // how long this node's timer was not scheduled, in all (heartbeats carry it)

    private long SilentMember => SilentHeartbeats * _heartbeatInterval;

    /// <summary>Whether this node's receive thread has been on one datagram (its handler, usually) for longer than a
    /// heartbeat interval: it hears nobody meanwhile, so silence proves nothing, and its peers should not be told it is fine.</summary>
    private bool ReceiveStalled(long now)
    {
        var since = Volatile.Read(ref _receiveBusySince);
        return since != 0 && now - since > _stallThreshold;
    }

    /// <summary>Suspected: reported for holding a broadcast window, or silent for the suspect timeout — unless this
    /// node's own receive thread is stuck, when the silence may be its own.</summary>
    private bool IsSuspected(PeerState peer, long now) =>
        peer.ReportedSlow || now - peer.LastHeard > _suspectTimeout && !ReceiveStalled(now);

    /// <summary>The oldest member of the view that is neither suspected nor departed (this node, if it comes first).</summary>
    private Member? ActingCoordinator()
    {
        if (_view.Id == 0 || _left)
            return null;
        var now = Now;
        foreach (var m in _view.Members)
        {
            var key = MemberKey.Of(m);
            if (key == _localKey)
                return m;
            if (_departed.ContainsKey(key))
                continue;
            if (_peers.TryGetValue(key, out var peer) && !IsSuspected(peer, now))
                return m;
        }
        return null;
    }

    private bool IsActingCoordinator() => ActingCoordinator() is { } m && MemberKey.Of(m) == _localKey;

    /// <summary>
    /// This node stalled from <paramref name="since"/> until <paramref name="now"/> (its timer ran that late, or its receive
    /// thread was stuck that long): that time is not counted as its peers' silence or their lack of acknowledgements, so a
    /// node that was frozen does not remove members that were fine all along. A late timer (<paramref name="timer"/>: the
    /// node was not scheduled) is also told to the peers, whose slow-member bound then does not count it against this
    /// node; a stuck receive thread is not (a stuck handler is what a slow member is). Under <see cref="_gate"/>.
    /// </summary>
    private void CreditStall(long since, long now, bool timer)
    {
        if (timer && now > _timerStallUntil)
        {
            var late = now - Math.Max(since, _timerStallUntil);
            _timerStallUntil = now;
            _reportedStallMicros += (long)((double)late * 1_000_000 / _time.TimestampFrequency);
        }
        var duration = now - Math.Max(since, _stallCreditedUntil);
        if (duration <= 0)
            return;
        _stallCreditedUntil = now;
        Interlocked.Increment(ref _counters.localStalls);
        var span = TimeSpan.FromSeconds((double)(now - since) / _time.TimestampFrequency);
        if (now - since > _suspectTimeout / 2)
            Log.LocalStall(_log, _local?.ToString() ?? _options.NodeId, span);
        else
            Log.ShortLocalStall(_log, _local?.ToString() ?? _options.NodeId, span);
        foreach (var peer in _peers.Values)
        {
            peer.LastHeard = Math.Min(now, peer.LastHeard + duration);
            if (peer.BehindSince != 0)
                peer.BehindSince = Math.Min(now, peer.BehindSince + duration);
        }
        if (_bcast.BlockedSince != 0)
            _bcast.BlockedSince = Math.Min(now, _bcast.BlockedSince + duration);
    }

    private void HeartbeatTick(long now, ref long next)
    {
        if (now - _lastHeartbeat >= _heartbeatInterval)
        {
            _lastHeartbeat = now;
            SendHeartbeat(now);
            CheckSlowMembers(now);
            if (IsActingCoordinator())
                Reconcile();
        }
        next = Math.Min(next, _lastHeartbeat + _heartbeatInterval);
        ViewTick(now, ref next);
    }

    private void SendHeartbeat(long now)
    {
        var local = _local!;
        var writer = new PayloadWriter(ControlPayload);
        writer.WriteString(local.NodeId);
        writer.WriteString(local.Address);
        writer.WriteInt64(_view.Id);
        var coordinator = MemberKey.Of(_view.Coordinator);
        writer.WriteUInt32(coordinator.Hash);
        writer.WriteInt64(coordinator.Incarnation);
        writer.WriteByte(ReceiveStalled(now) ? HeartbeatStalled : (byte)0);
        // Where this node's streams start, for members that have not acknowledged the broadcast stream's start yet.
        var countAt = writer.Position;
        writer.WriteUInt16(0);
        ushort starts = 0;
        foreach (var peer in _peers.Values)
        {
            if (peer.StartConfirmed || writer.Remaining < 2 + 44 + 2 + 8)
                continue;
            writer.WriteUInt32(peer.Key.Hash);
            writer.WriteInt64(peer.Key.Incarnation);
            writer.WriteInt64(peer.AckedPacket + 1);
            writer.WriteInt64(peer.AckedMessage);
            writer.WriteInt64(peer.UnicastEpoch);
            writer.WriteInt64(UnicastStart(peer));
            starts++;
        }
        BinaryPrimitives.WriteUInt16LittleEndian(ControlPayload[countAt..], starts);
        // The tails of unicast streams that are not fully acknowledged.
        countAt = writer.Position;
        writer.WriteUInt16(0);
        ushort tails = 0;
        foreach (var peer in _peers.Values)
        {
            if (peer.UnicastSend is not { Unacked.Count: > 0 } stream || writer.Remaining < 28 + 8)
                continue;
            writer.WriteUInt32(peer.Key.Hash);
            writer.WriteInt64(peer.Key.Incarnation);
            writer.WriteInt64(stream.Epoch);
            writer.WriteInt64(stream.HighestTransmitted);
            tails++;
        }
        BinaryPrimitives.WriteUInt16LittleEndian(ControlPayload[countAt..], tails);
        // Last (a node of the previous release ignores it): how long this node's timer was not scheduled, in all.
        writer.WriteInt64(_reportedStallMicros);
        SendControl(PacketKind.Heartbeat, _bcast.HighestTransmitted, _bcast.LastPacketizedMessage, 0, 0, writer.Position, [], null, _bcast.Epoch);
    }

    /// <summary>
    /// A heartbeat refreshes its sender's liveness only when the sender reports a working receive thread (a member
    /// whose handler is stuck still sends heartbeats from its timer). Only members of the view raise the view ids
    /// this node knows of: a heartbeat from anyone else cannot push view ids out of reach.
    /// </summary>
    private void OnHeartbeat(MemberKey sender, PeerState? peer, in PacketHeader header, ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        if (!reader.TryReadString(out var nodeId) || !reader.TryReadString(out var address)
            || !reader.TryReadInt64(out var viewId) || !reader.TryReadUInt32(out var coordinatorHash) || !reader.TryReadInt64(out var coordinatorIncarnation)
            || !reader.TryReadByte(out var flags) || Fnv.Hash32(nodeId) != sender.Hash)
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        var now = Now;
        if (peer is null)
        {
            // Counted like any datagram from outside the view (a forged one changes nothing: issue 11).
            Interlocked.Increment(ref _counters.unknownSender);
            var theirCoordinator = new MemberKey(coordinatorHash, coordinatorIncarnation);
            if (_joining)
            {
                _heardGroupAt = now; // a group exists: keep asking it rather than forming our own (for a while)
            }
            else if (IsActingCoordinator())
            {
                if (theirCoordinator == _localKey)
                {
                    if (_departed.ContainsKey(sender))
                        ResendView(Basis(), address); // a member we removed that has not noticed: tell it
                }
                else if (IsOlder(theirCoordinator, _localKey) && !_peers.ContainsKey(theirCoordinator))
                {
                    ProbeMerge(theirCoordinator, nodeId, now);
                }
            }
            return;
        }
        if (!ViewCodec.IsPlausible(viewId, Math.Max(_installedMax, _highestViewIdSeen)))
        {
            Interlocked.Increment(ref _counters.rejectedMembership);
            return;
        }
        // (A copy from before it joined our view carries an older view id: not a move.)
        var itsCoordinator = new MemberKey(coordinatorHash, coordinatorIncarnation);
        // Its coordinator cannot be of that view's lineage: outside it, or listed after the member (a lineage keeps its
        // order and adds joiners at the end): our view's coordinator that names it has merged into its group.
        bool LeadsElsewhere(MembershipView view) => !Contains(view, itsCoordinator) || ListedAfter(view, itsCoordinator, sender);
        if (viewId > peer.CreatedInView && LeadsElsewhere(_view) && LeadsElsewhere(Basis()))
        {
            MovedToAnotherGroup(sender, peer);
            return;
        }
        if ((flags & HeartbeatStalled) == 0)
            peer.LastHeard = now;
        peer.LastViewId = viewId;
        _highestViewIdSeen = Math.Max(_highestViewIdSeen, viewId);
        // A view we did not make: supersede it — unless it is the group we asked to admit us, whose view we wait for
        // (superseding it made a second view under the id of the one it admitted us in).
        if (viewId > Basis().Id && IsActingCoordinator() && sender != _mergeTarget)
            Reconcile(force: true);
        else if (coordinatorHash == sender.Hash && coordinatorIncarnation == sender.Incarnation
            && (viewId != Basis().Id || MemberKey.Of(Basis().Coordinator) != sender)
            && IsOlder(sender, _localKey) && !_viewAcked.Contains(sender) && IsActingCoordinator())
        {
            // A member of our view that has not confirmed it coordinates a group of its own, older than ours: it formed
            // that group before our view admitting it reached it (two nodes started at once) and, being older, waits for
            // us to merge into it, while we wait for its confirmation. Ask it to admit us. (Its view can have the id of
            // ours: two lineages that reached the same id.)
            ProbeMerge(sender, nodeId, now);
        }
        if (!reader.TryReadUInt16(out var starts))
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        for (var i = 0; i < starts; i++)
        {
            if (!reader.TryReadUInt32(out var hash) || !reader.TryReadInt64(out var incarnation)
                || !reader.TryReadInt64(out var start) || !reader.TryReadInt64(out var baseline)
                || !reader.TryReadInt64(out var unicastEpoch) || !reader.TryReadInt64(out var unicastStart))
            {
                Interlocked.Increment(ref _counters.rejectedMalformed);
                return;
            }
            if (hash == _localKey.Hash && incarnation == _localKey.Incarnation)
                OnStreamStarts(peer, header.StreamEpoch, start, baseline, header.Sequence, unicastEpoch, unicastStart, now);
        }
        // The broadcast stream's tail (a heartbeat of a newer epoch also tells this node that the stream restarted).
        if (Follows(peer.Broadcast, header.StreamEpoch) && (!peer.Broadcast.StartKnown || header.Sequence >= peer.Broadcast.Next))
            OnTail(peer.Broadcast, header.Sequence, now);
        if (!reader.TryReadUInt16(out var tails))
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        for (var i = 0; i < tails; i++)
        {
            if (!reader.TryReadUInt32(out var hash) || !reader.TryReadInt64(out var incarnation)
                || !reader.TryReadInt64(out var epoch) || !reader.TryReadInt64(out var highest))
            {
                Interlocked.Increment(ref _counters.rejectedMalformed);
                return;
            }
            if (hash == _localKey.Hash && incarnation == _localKey.Incarnation && Follows(peer.Unicast ??= new ReceiveStream(peer, unicast: true), epoch))
                OnTail(peer.Unicast, highest, now);
        }
        if (reader.TryReadInt64(out var stalledMicros))
            OnReportedStall(peer, stalledMicros, now);
    }

    /// <summary>
    /// The member reports (a running total) how long its timer was not scheduled: that time is not counted against it as
    /// holding this node's broadcast window — it was not running, like this node during its own stalls. The first report
    /// only sets the baseline (stalls from before it was our peer explain nothing here); a reordered older copy is ignored.
    /// </summary>
    private void OnReportedStall(PeerState peer, long stalledMicros, long now)
    {
        var previous = peer.ReportedStallMicros;
        if (stalledMicros <= previous)
            return;
        peer.ReportedStallMicros = stalledMicros;
        if (previous < 0 || peer.BehindSince == 0)
            return;
        var credit = (long)((double)(stalledMicros - previous) * _time.TimestampFrequency / 1_000_000);
        peer.BehindSince = Math.Min(now, peer.BehindSince + credit);
    }


    /// <summary>
    /// A member of this node's view whose heartbeat names a coordinator outside that view belongs to another group: it
    /// left ours to merge into an older group (or rejoined elsewhere) and all its Leaves were lost — a member of one
    /// lineage of views is always listed after its coordinator, so no view of ours can lead there. Its heartbeats must not
    /// keep it in our view as if alive; and when it is the member that coordinates ours, our group dissolved into that
    /// other one and this node follows it (rejoins) rather than stay in a view nobody coordinates any more.
    /// </summary>
    private void MovedToAnotherGroup(MemberKey sender, PeerState peer)
    {
        if (ActingCoordinator() is { } coordinator && MemberKey.Of(coordinator) == sender)
        {
            Log.CoordinatorMovedOn(_log, _local!.ToString(), coordinator.ToString());
            Rejoin();
            return;
        }
        if (_departed.ContainsKey(sender))
            return;
        peer.Stale = true; // as its Leave would
        _departed[sender] = _view.Id;
        if (IsActingCoordinator())
            Reconcile();
    }

    /// <summary>
    /// A member that holds this node's broadcast window — messages wait for room, and it acknowledged nothing new for
    /// <see cref="GroupChannelOptions.SlowMemberTimeout"/> — is reported and removed (by this node if it coordinates,
    /// else by the coordinator it asks), so one slow member does not stall every sender. Only time both were running counts:
    /// this node's own stalls and those the member reports are credited to <see cref="PeerState.BehindSince"/>; while this
    /// node's receive thread is stuck, the acknowledgements wait unread, so nobody is judged; and a member silent for a few
    /// heartbeats is paused or gone, not slow: suspicion decides about it, and if it was paused it reports that on resuming.
    /// </summary>
    private void CheckSlowMembers(long now)
    {
        if (_bcast.Pending.Count == 0 || _bcast.Unacked.Count == 0)
        {
            foreach (var peer in _peers.Values)
                peer.BehindSince = 0;
            return;
        }
        if (ReceiveStalled(now))
            return;
        var first = _bcast.Unacked.FirstSequence;
        Member? coordinator = null;
        Span<byte> target = stackalloc byte[12];
        foreach (var peer in _peers.Values)
        {
            if (peer.AckedPacket >= first)
            {
                peer.BehindSince = 0;
                continue;
            }
            if (peer.BehindSince == 0)
                peer.BehindSince = now;
            if (now - Math.Max(peer.BehindSince, _bcast.BlockedSince) < _slowMemberTimeout || now - peer.LastReceived > SilentMember)
                continue;
            if (!peer.ReportedSlow)
            {
                peer.ReportedSlow = true;
                Interlocked.Increment(ref _counters.slowMembers);
                Log.SlowMember(_log, peer.Member.ToString(), _options.SlowMemberTimeout ?? _options.SuspectTimeout, _bcast.WindowUsed);
            }
            coordinator ??= ActingCoordinator();
            if (coordinator is not null && MemberKey.Of(coordinator) != _localKey && now - peer.SuspectSentAt >= _heartbeatInterval)
            {
                peer.SuspectSentAt = now;
                BinaryPrimitives.WriteUInt32LittleEndian(target, peer.Key.Hash);
                BinaryPrimitives.WriteInt64LittleEndian(target[4..], peer.Key.Incarnation);
                SendControl(PacketKind.Suspect, 0, 0, 0, coordinator.Incarnation, 0, target, coordinator.Address);
            }
        }
    }

    /// <summary>A member reports another that holds its broadcast window: the coordinator removes it.</summary>
    private void OnSuspect(MemberKey sender, PeerState peer, in PacketHeader header, ReadOnlySpan<byte> payload)
    {
        if (header.TargetIncarnation != _localKey.Incarnation)
            return;
        if (payload.Length != 12)
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        var target = new MemberKey(BinaryPrimitives.ReadUInt32LittleEndian(payload), BinaryPrimitives.ReadInt64LittleEndian(payload[4..]));
        if (target == _localKey || target == sender || !_peers.TryGetValue(target, out var slow))
        {
            Interlocked.Increment(ref _counters.rejectedMembership);
            return;
        }
        if (!slow.ReportedSlow)
        {
            slow.ReportedSlow = true;
            Log.SlowMemberReported(_log, slow.Member.ToString(), peer.Member.ToString());
        }
        if (IsActingCoordinator())
            Reconcile();
    }
}
