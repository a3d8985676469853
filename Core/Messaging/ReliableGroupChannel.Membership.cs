using Multicast.Messaging.Internal;

namespace Multicast.Messaging;

// Membership: join, numbered views from the acting coordinator (the oldest live member), heartbeats,
// suspicion, graceful leave, and where each broadcast stream starts for a new member.
public sealed partial class ReliableGroupChannel
{
    private readonly Dictionary<MemberKey, PeerState> _peers = [];
    private readonly Dictionary<string, Member> _joiners = new(StringComparer.Ordinal);
    private readonly HashSet<MemberKey> _departed = []; // left or removed: never admitted again in that incarnation
    private MembershipView _view = new(0, []);
    private MembershipView? _proposed;
    private long _highestViewIdSeen;
    private long _joinStarted, _lastJoinSent, _lastHeartbeat, _heardGroupAt;

    private void SendJoin()
    {
        var writer = new PayloadWriter(ControlPayload);
        writer.WriteString(_local!.NodeId);
        writer.WriteString(_local.Address);
        writer.WriteString(_local.PublicAddress);
        SendControl(PacketKind.Join, 0, 0, 0, 0, writer.Position, [], null);
    }

    private void OnJoin(MemberKey sender, ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        if (!reader.TryReadString(out var nodeId) || !reader.TryReadString(out var address) || !reader.TryReadString(out var publicAddress)
            || Fnv.Hash32(nodeId) != sender.Hash)
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        if (!IsActingCoordinator())
            return;
        var basis = Basis();
        foreach (var m in basis.Members)
        {
            if (MemberKey.Of(m) == sender)
            {
                SendView(basis, address); // it missed the view: repeat it
                return;
            }
        }
        // A removed member that asks to join has dropped everything it knew about the group: admit it afresh.
        _departed.Remove(sender);
        if (_joiners.TryGetValue(nodeId, out var known) && known.Incarnation >= sender.Incarnation)
            return;
        _joiners[nodeId] = new Member(nodeId, sender.Incarnation, address, publicAddress);
        Reconcile();
    }

    private void OnLeave(MemberKey sender)
    {
        if (!_peers.ContainsKey(sender))
        {
            // It repeats its Leave until it sees a view without itself: the one we sent was lost.
            if (_departed.Contains(sender) && IsActingCoordinator())
                SendView(Basis(), null);
            return;
        }
        _departed.Add(sender);
        if (IsActingCoordinator())
            Reconcile();
    }

    /// <summary>Whether this node is the oldest member of its view that is neither suspected nor departed.</summary>
    private bool IsActingCoordinator()
    {
        if (_view.Id == 0 || _left)
            return false;
        var now = Now;
        foreach (var m in _view.Members)
        {
            var key = MemberKey.Of(m);
            if (key == _localKey)
                return true;
            if (_departed.Contains(key))
                continue;
            if (_peers.TryGetValue(key, out var peer) && now - peer.LastHeard <= _suspectTimeout)
                return false;
        }
        return false;
    }

    private MembershipView Basis() => _proposed is not null && _proposed.Id > _view.Id ? _proposed : _view;

    /// <summary>Coordinator: proposes a new view when members were suspected, left, joined or were replaced.</summary>
    private void Reconcile()
    {
        var basis = Basis();
        var now = Now;
        var members = new List<Member>(basis.Members.Count + _joiners.Count);
        foreach (var m in basis.Members)
        {
            var key = MemberKey.Of(m);
            if (key == _localKey)
            {
                members.Add(m);
                continue;
            }
            if (_departed.Contains(key))
                continue;
            if (_joiners.TryGetValue(m.NodeId, out var newer) && newer.Incarnation > m.Incarnation)
            {
                _departed.Add(key); // a restart: the new incarnation replaces it
                continue;
            }
            if (_peers.TryGetValue(key, out var peer) && now - peer.LastHeard > _suspectTimeout)
            {
                Log.Suspected(_log, m.ToString(), _options.SuspectTimeout);
                _departed.Add(key);
                continue;
            }
            members.Add(m);
        }
        foreach (var joiner in _joiners.Values)
        {
            if (!members.Exists(m => m.NodeId == joiner.NodeId))
                members.Add(joiner);
        }
        _joiners.Clear();
        if (members.Count == basis.Members.Count && members.SequenceEqual(basis.Members))
            return;
        Propose(new MembershipView(Math.Max(basis.Id, _highestViewIdSeen) + 1, members));
    }

    private void Propose(MembershipView view)
    {
        _proposed = view;
        _highestViewIdSeen = Math.Max(_highestViewIdSeen, view.Id);
        Log.Proposing(_log, view.ToString());
        SendView(view, null);
        SendView(view, _local!.Address); // installed on the receive thread, like everyone else's
    }

    private void SendView(MembershipView view, string? address)
    {
        var payload = ControlPayload;
        var size = 10;
        foreach (var m in view.Members)
            size += PayloadWriter.SizeOf(m.NodeId) + 8 + PayloadWriter.SizeOf(m.Address) + PayloadWriter.SizeOf(m.PublicAddress);
        if (size > payload.Length)
        {
            Log.ViewTooLarge(_log, view.Members.Count, size, payload.Length);
            return;
        }
        var writer = new PayloadWriter(payload);
        writer.WriteInt64(view.Id);
        writer.WriteUInt16((ushort)view.Members.Count);
        foreach (var m in view.Members)
        {
            writer.WriteString(m.NodeId);
            writer.WriteInt64(m.Incarnation);
            writer.WriteString(m.Address);
            writer.WriteString(m.PublicAddress);
        }
        SendControl(PacketKind.View, view.Id, 0, 0, 0, writer.Position, [], address);
    }

    private void OnView(MemberKey sender, ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        if (!reader.TryReadInt64(out var id) || !reader.TryReadUInt16(out var count))
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        var members = new Member[count];
        var containsMe = false;
        for (var i = 0; i < count; i++)
        {
            if (!reader.TryReadString(out var nodeId) || !reader.TryReadInt64(out var incarnation)
                || !reader.TryReadString(out var address) || !reader.TryReadString(out var publicAddress))
            {
                Interlocked.Increment(ref _counters.rejectedMalformed);
                return;
            }
            members[i] = new Member(nodeId, incarnation, address, publicAddress);
            if (MemberKey.Of(members[i]) == _localKey)
            {
                containsMe = true;
                members[i] = _local!;
            }
        }
        _highestViewIdSeen = Math.Max(_highestViewIdSeen, id);
        if (id <= _view.Id)
            return;
        if (!containsMe)
        {
            if (_left && _peers.ContainsKey(sender))
                _leaveConfirmed.TrySetResult();
            else if (_view.Id != 0 && !_left && _peers.ContainsKey(sender))
            {
                // Our group went on without us (we were suspected, or a partition healed): start over.
                Log.Excluded(_log, _local!.ToString(), id);
                Rejoin();
            }
            return;
        }
        Install(new MembershipView(id, members));
    }

    private void Install(MembershipView view)
    {
        var now = Now;
        _view = view;
        _viewToAnnounce = view;
        Interlocked.Increment(ref _counters.viewChanges);
        if (_proposed is not null && _proposed.Id <= view.Id)
            _proposed = null;
        var keys = new HashSet<MemberKey>();
        foreach (var m in view.Members)
            keys.Add(MemberKey.Of(m));
        foreach (var peer in _peers.Values.ToArray())
        {
            if (keys.Contains(peer.Key))
                continue;
            _peers.Remove(peer.Key);
            _departed.Add(peer.Key);
            peer.Broadcast.Release();
            peer.Unicast?.Release();
            if (peer.UnicastSend is { } stream)
            {
                while (stream.Unacked.Count > 0)
                    _windowUsed -= stream.Unacked.RemoveFirst().Length;
            }
        }
        // New members receive this node's broadcast stream from here on: close the open batch so that
        // everything sent after this point is in a packet they will get.
        _bcast.OpenBatch = null;
        foreach (var m in view.Members)
        {
            var key = MemberKey.Of(m);
            if (key == _localKey || _peers.ContainsKey(key))
                continue;
            var peer = new PeerState(m, now)
            {
                BaselinePacket = _bcast.NextPacket - 1,
                BaselineMessage = _bcast.LastPacketizedMessage,
            };
            peer.AckedPacket = peer.BaselinePacket;
            peer.AckedMessage = peer.BaselineMessage;
            _peers.Add(key, peer);
            SendStreamStart(peer);
        }
        Log.ViewInstalled(_log, _local!.ToString(), view.ToString());
        if (_joining)
        {
            _joining = false;
            _joined.TrySetResult();
        }
        _lastHeartbeat = 0;
        Schedule(now);
        FreeBroadcast();
        CheckAckWaiters();
        AdmitPending();
        if (IsActingCoordinator() && _joiners.Count > 0)
            Reconcile();
    }

    private void SendStreamStart(PeerState peer)
    {
        Span<byte> highest = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(highest, _bcast.HighestTransmitted);
        SendControl(PacketKind.StreamStart, peer.BaselinePacket + 1, peer.BaselineMessage, 0, peer.Member.Incarnation, 0, highest, peer.Member.Address);
    }

    private void SendHeartbeat()
    {
        var local = _local!;
        var writer = new PayloadWriter(ControlPayload);
        writer.WriteString(local.NodeId);
        writer.WriteString(local.Address);
        writer.WriteString(local.PublicAddress);
        writer.WriteInt64(_view.Id);
        var coordinator = MemberKey.Of(_view.Coordinator);
        writer.WriteUInt32(coordinator.Hash);
        writer.WriteInt64(coordinator.Incarnation);
        // Where this node's broadcast stream starts, for members that have not acknowledged it yet.
        var countAt = writer.Position;
        writer.WriteUInt16(0);
        ushort starts = 0;
        foreach (var peer in _peers.Values)
        {
            if (peer.StartConfirmed || writer.Remaining < 2 + 28 + 2)
                continue;
            writer.WriteUInt32(peer.Key.Hash);
            writer.WriteInt64(peer.Key.Incarnation);
            writer.WriteInt64(peer.BaselinePacket + 1);
            writer.WriteInt64(peer.BaselineMessage);
            starts++;
        }
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(ControlPayload[countAt..], starts);
        // The tails of unicast streams that are not fully acknowledged.
        countAt = writer.Position;
        writer.WriteUInt16(0);
        ushort tails = 0;
        foreach (var peer in _peers.Values)
        {
            if (peer.UnicastSend is not { Unacked.Count: > 0 } stream || writer.Remaining < 20)
                continue;
            writer.WriteUInt32(peer.Key.Hash);
            writer.WriteInt64(peer.Key.Incarnation);
            writer.WriteInt64(stream.HighestTransmitted);
            tails++;
        }
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(ControlPayload[countAt..], tails);
        SendControl(PacketKind.Heartbeat, _bcast.HighestTransmitted, _bcast.LastPacketizedMessage, 0, 0, writer.Position, [], null);
    }

    private void OnHeartbeat(MemberKey sender, PeerState? peer, in PacketHeader header, ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        if (!reader.TryReadString(out var nodeId) || !reader.TryReadString(out var address) || !reader.TryReadString(out var publicAddress)
            || !reader.TryReadInt64(out var viewId) || !reader.TryReadUInt32(out var coordinatorHash) || !reader.TryReadInt64(out var coordinatorIncarnation)
            || Fnv.Hash32(nodeId) != sender.Hash)
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        var now = Now;
        _highestViewIdSeen = Math.Max(_highestViewIdSeen, viewId);
        if (peer is null)
        {
            var theirCoordinator = new MemberKey(coordinatorHash, coordinatorIncarnation);
            if (_joining)
            {
                _heardGroupAt = now; // a group exists: keep asking it rather than forming our own
            }
            else if (IsActingCoordinator())
            {
                if (theirCoordinator == _localKey)
                {
                    SendView(Basis(), address); // a removed member that has not noticed: tell it
                }
                else if (IsOlder(theirCoordinator, _localKey))
                {
                    // Another group with an older coordinator (two nodes started at once, or a partition
                    // healed): this younger group dissolves into it, its coordinator first.
                    Log.Merging(_log, _local!.ToString(), nodeId);
                    Rejoin();
                }
            }
            return;
        }
        peer.LastViewId = viewId;
        if (IsActingCoordinator())
        {
            var basis = Basis();
            if (viewId < basis.Id)
                SendView(basis, peer.Member.Address); // it missed a view
            else if (viewId > basis.Id)
                Propose(new MembershipView(_highestViewIdSeen + 1, basis.Members)); // a view we did not make: supersede it
        }
        if (!reader.TryReadUInt16(out var starts))
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        for (var i = 0; i < starts; i++)
        {
            if (!reader.TryReadUInt32(out var hash) || !reader.TryReadInt64(out var incarnation)
                || !reader.TryReadInt64(out var start) || !reader.TryReadInt64(out var baseline))
            {
                Interlocked.Increment(ref _counters.rejectedMalformed);
                return;
            }
            if (hash == _localKey.Hash && incarnation == _localKey.Incarnation)
                OnStreamStart(peer.Broadcast, start, baseline, header.Sequence, now);
        }
        if (peer.Broadcast.StartKnown && header.Sequence >= peer.Broadcast.Next)
            OnTail(peer.Broadcast, header.Sequence, now);
        if (!reader.TryReadUInt16(out var tails))
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        for (var i = 0; i < tails; i++)
        {
            if (!reader.TryReadUInt32(out var hash) || !reader.TryReadInt64(out var incarnation) || !reader.TryReadInt64(out var highest))
            {
                Interlocked.Increment(ref _counters.rejectedMalformed);
                return;
            }
            if (hash == _localKey.Hash && incarnation == _localKey.Incarnation)
            {
                peer.Unicast ??= new ReceiveStream(peer, unicast: true);
                OnTail(peer.Unicast, highest, now);
            }
        }
    }

    /// <summary>
    /// Leaves the current view and joins again, keeping the incarnation: every peer state is dropped on both
    /// sides (they removed us, we remove them), so streams restart from fresh join points. Broadcasts that
    /// waited for acknowledgements fault: this member cannot know who has them.
    /// </summary>
    private void Rejoin()
    {
        for (var i = 0; i < 3; i++)
            SendControl(PacketKind.Leave, 0, 0, 0, 0, 0, [], null);
        foreach (var peer in _peers.Values)
        {
            peer.Broadcast.Release();
            peer.Unicast?.Release();
            if (peer.UnicastSend is { } stream)
            {
                while (stream.Unacked.Count > 0)
                    _windowUsed -= stream.Unacked.RemoveFirst().Length;
            }
        }
        _peers.Clear();
        _departed.Clear();
        _joiners.Clear();
        _acksDeferred.Clear();
        _proposed = null;
        if (_view.Id != 0)
            _excludedToAnnounce = _view;
        _view = new MembershipView(0, []);
        FreeBroadcast();
        foreach (var waiter in _ackWaiters)
        {
            waiter.Registration.Unregister();
            waiter.Completion.TrySetException(new InvalidOperationException(
                "This member was removed from the view before enough members acknowledged; it is rejoining."));
        }
        _ackWaiters.Clear();
        AdmitPending();
        var now = Now;
        _joining = true;
        _joinStarted = now;
        _lastJoinSent = now;
        _heardGroupAt = now;
        SendJoin();
        Schedule(now + _joinRetry);
    }

    /// <summary>Coordinator precedence: the lower incarnation (started earlier) is older; ties by node hash.</summary>
    private static bool IsOlder(MemberKey a, MemberKey b) =>
        a.Incarnation < b.Incarnation || a.Incarnation == b.Incarnation && a.Hash < b.Hash;
}
