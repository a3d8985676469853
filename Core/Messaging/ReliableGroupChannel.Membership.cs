using System.Buffers.Binary;
using Multicast.Messaging.Internal;

namespace Multicast.Messaging;

// Membership: join, numbered views from the acting coordinator (the oldest live member) that every member
// confirms, graceful leave, exclusion and merge, and where each broadcast stream starts for a new member.
// Liveness (heartbeats, suspicion, slow members, own stalls) is in ReliableGroupChannel.Liveness.cs.
public sealed partial class ReliableGroupChannel
{
    // Members that have not confirmed a view get it by unicast, each, when there are at most this many (and at most a
    // quarter of the view); more get one multicast.
    private const int MaxUnicastViewRepeats = 8;

    private readonly Dictionary<MemberKey, PeerState> _peers = [];
    private readonly Dictionary<string, Member> _joiners = new(StringComparer.Ordinal);
    // Left or removed, with the id of the view that removed it: never part of a view again unless it joins anew.
    private readonly Dictionary<MemberKey, long> _departed = [];
    private readonly ControlAssembler _assembler = new();
    private readonly HashSet<MemberKey> _viewAcked = []; // members that confirmed the view with id _viewAckedId
    private MembershipView _view = new(0, []);
    private MembershipView? _proposed;
    private long _highestViewIdSeen; // raised only by members of the view
    private long _installedMax;      // the largest view id this member installed; never decreases, also across a rejoin
    private long _minNextViewId;     // the next proposal is at least this (joiners that installed views before)
    private long _viewAckedId, _proposedAt, _viewSentAt;
    private MembershipView? _encodedView;
    private byte[] _encodedViewBytes = [];
    private byte[]? _joinBytes;
    private int _preferredRing = -1;
    private MemberKey _mergeTarget;
    private long _mergeProbeAt;
    private long _joinStarted, _lastJoinSent, _heardGroupAt;

    /// <summary>Join requests are repeated every <see cref="GroupChannelOptions.JoinRetryInterval"/> until a view holding
    /// this member arrives; they carry the largest view id it installed, so that view is newer. A coordinator that asks
    /// another group to admit it (a merge) names that group's coordinator's incarnation: only that one answers.</summary>
    private void SendJoin(long coordinatorIncarnation = 0)
    {
        _joinBytes ??= ViewCodec.EncodeJoin(_local!, _installedMax, _preferredRing);
        SendFragmented(PacketKind.Join, _installedMax, _joinBytes, null, coordinatorIncarnation);
    }

    /// <summary>Sends a control message in as many datagrams as it needs (see <see cref="ControlAssembler"/>). Under <see cref="_gate"/>.</summary>
    private int SendFragmented(PacketKind kind, long sequence, ReadOnlySpan<byte> message, string? address, long targetIncarnation = 0)
    {
        var count = ControlAssembler.FragmentCount(message.Length, _payloadCapacity);
        var chunk = ControlAssembler.ChunkSize(message.Length, count);
        var buffer = _controlBuffer.AsSpan();
        for (var i = 0; i < count; i++)
        {
            var offset = i * chunk;
            var part = message.Slice(offset, Math.Min(chunk, message.Length - offset));
            new PacketHeader
            {
                Kind = kind,
                ClusterHash = _clusterHash,
                SenderHash = _localKey.Hash,
                Incarnation = _localKey.Incarnation,
                Sequence = sequence,
                MessageSequence = message.Length,
                FragmentIndex = (uint)i,
                FragmentCount = (uint)count,
                TargetIncarnation = targetIncarnation,
                PayloadLength = (ushort)part.Length,
            }.Write(buffer);
            part.CopyTo(buffer[PacketHeader.Size..]);
            Transmit(buffer[..(PacketHeader.Size + part.Length)], address);
        }
        return count;
    }

    /// <summary>A Join or View datagram: complete, or one fragment of a larger one.</summary>
    private void OnControlMessage(MemberKey sender, PeerState? peer, in PacketHeader header, ReadOnlySpan<byte> payload)
    {
        if (header.FragmentCount > 1)
        {
            switch (_assembler.Add(sender, header, payload, ControlAssembler.MaxFragments * _options.DatagramSize, out var whole))
            {
                case AssemblyResult.Incomplete:
                    return;
                case AssemblyResult.Malformed:
                    Interlocked.Increment(ref _counters.rejectedMalformed);
                    return;
            }
            payload = whole;
        }
        else if (header.FragmentCount != 1 || header.FragmentIndex != 0 || header.MessageSequence != payload.Length)
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        if (header.Kind == PacketKind.Join)
            OnJoin(sender, peer, header.TargetIncarnation, payload);
        else
            OnView(sender, peer, header.Sequence, payload);
    }

    private void OnJoin(MemberKey sender, PeerState? peer, long coordinatorIncarnation, ReadOnlySpan<byte> payload)
    {
        if (!ViewCodec.TryDecodeJoin(payload, sender.Incarnation, out var joiner, out var lastViewId) || Fnv.Hash32(joiner.NodeId) != sender.Hash)
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        var restartedCoordinator = SupersedeRestartedCoordinator(joiner, coordinatorIncarnation);
        if (coordinatorIncarnation != 0 && coordinatorIncarnation != _localKey.Incarnation && !restartedCoordinator)
            return; // a merge request for another group's coordinator
        if (lastViewId > 0 && !ViewCodec.IsPlausible(lastViewId, Math.Max(_installedMax, _highestViewIdSeen)))
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        // A member of our view that asks to join again after it installed the view we admitted it in has dropped
        // everything it knew about us (it was excluded, or merged elsewhere): its state here is stale.
        if (peer is not null && coordinatorIncarnation == 0 && lastViewId >= peer.CreatedInView)
            peer.Stale = true;
        if (!IsActingCoordinator())
            return;
        var basis = Basis();
        if (Contains(basis, sender))
        {
            // It has not installed the view that admits it yet (the view's retransmissions reach it), unless it
            // installed a larger view id somewhere before: then it needs a newer view.
            if (lastViewId >= basis.Id || peer is { Stale: true })
            {
                _minNextViewId = Math.Max(_minNextViewId, lastViewId + 1);
                Reconcile(force: true);
            }
            return;
        }
        // A removed member that asks to join has dropped everything it knew about the group: admit it afresh.
        _departed.Remove(sender);
        if (_joiners.TryGetValue(joiner.NodeId, out var known) && known.Incarnation > sender.Incarnation)
            return;
        _joiners[joiner.NodeId] = joiner;
        _minNextViewId = Math.Max(_minNextViewId, lastViewId + 1);
        Reconcile();
    }

    /// <summary>
    /// A join from a newer incarnation of the member that coordinates this node's view (or a merge request addressed to
    /// that old incarnation): the coordinator restarted, so the old incarnation is gone for good (node ids are unique in
    /// a cluster) and the next member in line takes over now, not after <see cref="GroupChannelOptions.SuspectTimeout"/>
    /// of silence. The new incarnation is then admitted like any joiner, in the old one's place on the ring.
    /// </summary>
    private bool SupersedeRestartedCoordinator(Member joiner, long coordinatorIncarnation)
    {
        if (ActingCoordinator() is not { } coordinator || MemberKey.Of(coordinator) == _localKey
            || !string.Equals(coordinator.NodeId, joiner.NodeId, StringComparison.Ordinal) || coordinator.Incarnation >= joiner.Incarnation
            || coordinatorIncarnation != 0 && coordinatorIncarnation != coordinator.Incarnation)
        {
            return false;
        }
        var key = MemberKey.Of(coordinator);
        Log.CoordinatorRestarted(_log, coordinator.ToString(), joiner.ToString());
        _peers.TryGetValue(key, out var peer);
        Depart(key, peer, Basis().Id);
        return true;
    }

    private void SendLeave(long epoch)
    {
        Span<byte> payload = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(payload, _localKey.Incarnation);
        BinaryPrimitives.WriteInt64LittleEndian(payload[8..], epoch);
        SendControl(PacketKind.Leave, 0, 0, 0, 0, 0, payload, null);
    }

    /// <summary>A Leave names the incarnation it is for and the view its sender left from: a copy delayed from before
    /// the member was removed and admitted again cannot remove it a second time.</summary>
    private void OnLeave(MemberKey sender, PeerState? peer, ReadOnlySpan<byte> payload)
    {
        if (payload.Length != 16)
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        var incarnation = BinaryPrimitives.ReadInt64LittleEndian(payload);
        var epoch = BinaryPrimitives.ReadInt64LittleEndian(payload[8..]);
        if (incarnation != sender.Incarnation)
        {
            Interlocked.Increment(ref _counters.rejectedMembership);
            return;
        }
        if (peer is null)
        {
            // It repeats its Leave until it sees a view without itself: the ones sent were lost.
            if (!_departed.ContainsKey(sender))
                Interlocked.Increment(ref _counters.unknownSender);
            else if (IsActingCoordinator() && Now - _viewSentAt >= _joinRetry)
                ResendView(Basis(), null);
            return;
        }
        // Older than the view that admitted it here: a copy from an earlier membership, or its farewell to another
        // group it left to merge into ours.
        if (epoch < Math.Max(peer.ReadmittedAfter, peer.CreatedInView) || !ViewCodec.IsPlausible(epoch, _installedMax))
        {
            Interlocked.Increment(ref _counters.rejectedMembership);
            return;
        }
        peer.Stale = true;
        _departed[sender] = _view.Id;
        if (IsActingCoordinator())
            Reconcile();
    }

    private MembershipView Basis() => _proposed is not null && _proposed.Id > _view.Id ? _proposed : _view;

    private static bool Contains(MembershipView view, MemberKey key)
    {
        foreach (var m in view.Members)
        {
            if (MemberKey.Of(m) == key)
                return true;
        }
        return false;
    }

    private long NextViewId(MembershipView basis) =>
        Math.Max(Math.Max(basis.Id, _view.Id), Math.Max(Math.Max(_highestViewIdSeen, _installedMax), _minNextViewId - 1)) + 1;

    /// <summary>
    /// Coordinator: proposes a new view when members were suspected, left, joined or were replaced (or always, when
    /// <paramref name="force"/>: a member holds a view id this coordinator must supersede). Ring indexes stay unique:
    /// members keep theirs in view order, a joiner gets the one it asks for (or its hash) or the next free one.
    /// </summary>
    private void Reconcile(bool force = false)
    {
        var basis = Basis();
        var now = Now;
        var members = new List<Member>(basis.Members.Count + _joiners.Count);
        var rings = new HashSet<int>();
        var nodes = new HashSet<string>(StringComparer.Ordinal);
        Dictionary<string, int>? replaced = null;
        foreach (var m in basis.Members)
        {
            var key = MemberKey.Of(m);
            if (key != _localKey)
            {
                _peers.TryGetValue(key, out var peer);
                if (_joiners.TryGetValue(m.NodeId, out var newer) && newer.Incarnation > m.Incarnation)
                {
                    // A restart (departed already, if it coordinated): the new incarnation replaces it and keeps its place on the ring.
                    (replaced ??= new(StringComparer.Ordinal))[m.NodeId] = m.RingIndex;
                    Depart(key, peer, basis.Id);
                    continue;
                }
                if (_departed.ContainsKey(key))
                    continue;
                if (peer is not null && IsSuspected(peer, now))
                {
                    if (peer.ReportedSlow)
                        Log.SlowMemberRemoved(_log, m.ToString());
                    else
                        Log.Suspected(_log, m.ToString(), _options.SuspectTimeout);
                    // Suspected, not gone: it still holds our streams' state, and so do we of its. Only an installed
                    // view without it (or its own new join or leave) drops that; a view that keeps it resumes as is.
                    _departed[key] = basis.Id;
                    continue;
                }
            }
            members.Add(WithFreeRing(m, m.RingIndex, rings));
            nodes.Add(m.NodeId);
        }
        if (_joiners.Count > 0 && !JoinsDeferred(now))
        {
            foreach (var joiner in _joiners.Values)
            {
                if (!nodes.Add(joiner.NodeId))
                    continue;
                var wanted = replaced is not null && replaced.TryGetValue(joiner.NodeId, out var old) ? old : joiner.RingIndex;
                members.Add(WithFreeRing(joiner, wanted, rings));
            }
            _joiners.Clear();
        }
        if (!force && members.SequenceEqual(basis.Members))
            return;
        Propose(new MembershipView(NextViewId(basis), members));
    }

    private void Depart(MemberKey key, PeerState? peer, long viewId)
    {
        _departed[key] = viewId;
        if (peer is not null)
            peer.Stale = true;
    }

    /// <summary>The member with ring index <paramref name="wanted"/>, or the next index (wrapping) no member before it holds.</summary>
    private static Member WithFreeRing(Member member, int wanted, HashSet<int> taken)
    {
        var ring = wanted & 0xFFFF;
        while (!taken.Add(ring))
            ring = (ring + 1) & 0xFFFF;
        return ring == member.RingIndex ? member : member with { RingIndex = ring };
    }

    /// <summary>While a view is being confirmed, joiners wait (a little) and are admitted together in the next one.</summary>
    private bool JoinsDeferred(long now) => _proposedAt != 0 && now - _proposedAt < 3 * _joinRetry && !AllConfirmed(Basis());

    private bool AllConfirmed(MembershipView view)
    {
        if (_view.Id < view.Id || _viewAckedId != view.Id)
            return false;
        foreach (var m in view.Members)
        {
            var key = MemberKey.Of(m);
            if (key != _localKey && !_viewAcked.Contains(key) && !_departed.ContainsKey(key))
                return false;
        }
        return true;
    }

    private void Propose(MembershipView view)
    {
        var now = Now;
        _proposed = view;
        _proposedAt = now;
        _viewSentAt = now;
        _viewAcked.Clear();
        _viewAckedId = view.Id;
        _highestViewIdSeen = Math.Max(_highestViewIdSeen, view.Id);
        Log.Proposing(_log, view.ToString());
        if (view.Members.Count > 1)
            SendView(view, null);
        SendOwnView(view.Id); // installed on the receive thread, like everyone else's
        Schedule(now + _joinRetry);
    }

    /// <summary>Asks this node's own receive thread to install its proposal <paramref name="id"/> (repeated until it does:
    /// a datagram to oneself can be lost too, e.g. to a firewall rule on every incoming datagram).</summary>
    private void SendOwnView(long id) => SendControl(PacketKind.View, id, 0, 0, 0, 0, [], _local!.Address);

    private int SendView(MembershipView view, string? address)
    {
        if (!ReferenceEquals(_encodedView, view))
        {
            _encodedViewBytes = ViewCodec.EncodeView(view);
            _encodedView = view;
        }
        if (ControlAssembler.FragmentCount(_encodedViewBytes.Length, _payloadCapacity) > ControlAssembler.MaxFragments)
        {
            Log.ViewTooLarge(_log, view.Members.Count, _encodedViewBytes.Length, ControlAssembler.MaxFragments);
            return 0;
        }
        return SendFragmented(PacketKind.View, view.Id, _encodedViewBytes, address);
    }

    private void ResendView(MembershipView view, string? address)
    {
        _viewSentAt = Now;
        Interlocked.Add(ref _counters.viewRetransmissions, SendView(view, address));
    }

    /// <summary>
    /// Coordinator, on every timer tick: repeats the current view to the members that have not confirmed it (by
    /// unicast to one, by multicast to several) and to its own receive thread, every <see cref="GroupChannelOptions.JoinRetryInterval"/>,
    /// until each confirmed it or left the view; admits waiting joiners once it is confirmed.
    /// </summary>
    private void ViewTick(long now, ref long next)
    {
        var basis = Basis();
        if (basis.Id == 0 || MemberKey.Of(basis.Coordinator) != _localKey || !IsActingCoordinator())
            return;
        if (_joiners.Count > 0)
        {
            if (JoinsDeferred(now))
                next = Math.Min(next, _proposedAt + 3 * _joinRetry);
            else
                Reconcile();
            basis = Basis();
        }
        if (_viewAckedId != basis.Id)
        {
            _viewAcked.Clear();
            _viewAckedId = basis.Id;
        }
        var selfMissing = _view.Id < basis.Id;
        var missing = 0;
        foreach (var m in basis.Members)
        {
            var key = MemberKey.Of(m);
            if (key != _localKey && !_viewAcked.Contains(key) && !_departed.ContainsKey(key))
                missing++;
        }
        if (!selfMissing && missing == 0)
            return;
        var due = _viewSentAt + _joinRetry;
        if (now < due)
        {
            next = Math.Min(next, due);
            return;
        }
        if (selfMissing)
        {
            SendOwnView(basis.Id);
            Interlocked.Increment(ref _counters.viewRetransmissions);
        }
        if (missing > 0)
        {
            // A few stragglers of a large view get their own copies: a multicast would make every member read (and
            // confirm again) a view it has.
            if (missing == 1 || missing <= MaxUnicastViewRepeats && missing * 4 <= basis.Members.Count)
                ResendToUnconfirmed(basis);
            else
                ResendView(basis, null);
        }
        _viewSentAt = now;
        next = Math.Min(next, now + _joinRetry);
    }

    /// <summary>Repeats <paramref name="view"/> by unicast to each member that has not confirmed it.</summary>
    private void ResendToUnconfirmed(MembershipView view)
    {
        foreach (var m in view.Members)
        {
            var key = MemberKey.Of(m);
            if (key != _localKey && !_viewAcked.Contains(key) && !_departed.ContainsKey(key))
                ResendView(view, m.Address);
        }
    }

    /// <summary>A member confirms the view it installed; one that reports a larger id than the coordinator's has
    /// installed a view the coordinator did not make, which it then supersedes.</summary>
    private void OnViewAck(MemberKey sender, in PacketHeader header)
    {
        if (header.TargetIncarnation != _localKey.Incarnation)
            return;
        var basis = Basis();
        if (!Contains(basis, sender))
        {
            Interlocked.Increment(ref _counters.unknownSender);
            return;
        }
        var id = header.Sequence;
        if (id == basis.Id)
        {
            if (_viewAckedId != id)
            {
                _viewAcked.Clear();
                _viewAckedId = id;
            }
            _viewAcked.Add(sender);
            if (_joiners.Count > 0 && AllConfirmed(basis) && IsActingCoordinator())
                Reconcile();
            return;
        }
        if (id < basis.Id)
            return;
        if (!ViewCodec.IsPlausible(id, Math.Max(basis.Id, _installedMax)))
        {
            Interlocked.Increment(ref _counters.rejectedMembership);
            return;
        }
        _highestViewIdSeen = Math.Max(_highestViewIdSeen, id);
        if (IsActingCoordinator())
            Reconcile(force: true);
    }

    private void SendViewAck()
    {
        var coordinator = _view.Coordinator;
        if (MemberKey.Of(coordinator) != _localKey)
            SendControl(PacketKind.ViewAck, _view.Id, 0, 0, coordinator.Incarnation, 0, [], coordinator.Address);
    }

    /// <summary>Our own proposal, looped back through the transport so it is installed on the receive thread.</summary>
    private void OnOwnView(long id)
    {
        if (_proposed is { } own && own.Id == id && id > _view.Id && id > _installedMax)
            Install(own);
    }

    /// <summary>
    /// A view is believed only from its coordinator (the first member it lists), and only when that coordinator is a
    /// member of the view this node has — or, while joining, when the view admits this node with an id larger than
    /// any it installed before; or when it answers this coordinator's request to merge into an older group.
    /// </summary>
    private void OnView(MemberKey sender, PeerState? peer, long headerId, ReadOnlySpan<byte> payload)
    {
        if (!ViewCodec.TryDecodeView(payload, out var id, out var members) || id != headerId)
        {
            Interlocked.Increment(ref _counters.rejectedMalformed);
            return;
        }
        var known = Math.Max(_installedMax, _highestViewIdSeen);
        if (MemberKey.Of(members[0]) != sender || (_view.Id == 0 ? id > ViewCodec.MaxViewId : !ViewCodec.IsPlausible(id, known)))
        {
            Interlocked.Increment(ref _counters.rejectedMembership);
            return;
        }
        var me = -1;
        for (var i = 0; i < members.Length; i++)
        {
            if (MemberKey.Of(members[i]) == _localKey)
            {
                me = i;
                break;
            }
        }
        if (_view.Id == 0)
        {
            // Joining: any coordinator may admit us, with a view newer than any we installed (if not, it has not
            // heard our last Join yet, which tells it how new the view must be).
            if (me >= 0 && !_left && id > _installedMax)
                Install(Adopt(id, members, me));
            return;
        }
        if (me >= 0 && sender == _mergeTarget && id > _installedMax && (peer is null || ListedAfter(_view, sender, _localKey)))
        {
            // The older group admitted us: this group dissolves into it (the others follow one by one) — also when that
            // group's coordinator is a member of our view listed after us (it was admitted here but formed its own group
            // before our view reached it). Installed as the next view of our own group instead, it left our other members
            // in a view whose coordinator had moved on, for good (N12). A coordinator listed before us is our own group's,
            // which we only suspected: its next view continues our group.
            Log.Merged(_log, _local!.ToString(), members[0].ToString());
            DropGroup();
            Install(Adopt(id, members, me));
            return;
        }
        if (peer is null)
        {
            Interlocked.Increment(ref _counters.unknownSender);
            return;
        }
        if (id < _view.Id)
            return; // an old copy
        if (id == _view.Id && me >= 0)
        {
            if (!SameKeys(_view.Members, members))
            {
                // A different view under our id: another lineage (a group that admitted us too, or the group we asked to
                // admit us). Confirming it would make its coordinator believe we hold its view. The group we merge into
                // is asked again (our Join carries our id: its next view is newer); as coordinator we supersede it.
                if (sender == _mergeTarget)
                {
                    _mergeProbeAt = Now;
                    SendJoin(sender.Incarnation);
                    return;
                }
                if (IsActingCoordinator())
                {
                    Reconcile(force: true);
                    return;
                }
            }
            // A copy of our view (our confirmation was lost), or a different view under our id from a coordinator
            // that did not know ours: our confirmation (to our coordinator) carries our id, and it proposes a newer view.
            SendViewAck();
            return;
        }
        if (me < 0)
        {
            if (_left)
            {
                _leaveConfirmed.TrySetResult();
            }
            else if (id > _view.Id || !SameMembers(_view.Members, members))
            {
                // Our group went on without us (we were suspected, or a partition healed): start over.
                Log.Excluded(_log, _local!.ToString(), id);
                Rejoin();
            }
            return;
        }
        if (ListedAfter(_view, sender, _localKey))
        {
            // Our view lists its coordinator after us, and it lists us: no view of our lineage leads there (a member that
            // suspected us would have removed us), so it is another group's view that admitted us too. The older group
            // survives: if it is older we ask it to admit us, and its repeat then dissolves our group into it; if younger,
            // it asks ours. Installed as our next view, it left our group's other members behind for good (N12).
            Interlocked.Increment(ref _counters.rejectedMembership);
            if (IsOlder(sender, _localKey) && IsActingCoordinator())
                ProbeMerge(sender, members[0].NodeId, Now);
            return;
        }
        // A view from its coordinator is proof it is alive: heard, or a member that suspected it would suspect it
        // again at once and act as coordinator of a view it just installed.
        peer.LastHeard = Math.Max(peer.LastHeard, Now);
        Install(Adopt(id, members, me));
    }

    private static bool SameMembers(IReadOnlyList<Member> a, Member[] b) => a.Count == b.Length && a.SequenceEqual(b);

    /// <summary>Whether <paramref name="view"/> lists <paramref name="later"/> after <paramref name="earlier"/>.</summary>
    private static bool ListedAfter(MembershipView view, MemberKey later, MemberKey earlier)
    {
        var earlierSeen = false;
        foreach (var m in view.Members)
        {
            var key = MemberKey.Of(m);
            if (key == earlier)
                earlierSeen = true;
            else if (key == later)
                return earlierSeen;
        }
        return false;
    }

    private static bool SameKeys(IReadOnlyList<Member> a, Member[] b)
    {
        if (a.Count != b.Length)
            return false;
        for (var i = 0; i < b.Length; i++)
        {
            if (MemberKey.Of(a[i]) != MemberKey.Of(b[i]))
                return false;
        }
        return true;
    }

    /// <summary>The view with this node's own entry (the ring index the coordinator assigned it).</summary>
    private MembershipView Adopt(long id, Member[] members, int me)
    {
        var local = _local!;
        members[me] = members[me].RingIndex == local.RingIndex ? local : local with { RingIndex = members[me].RingIndex };
        return new MembershipView(id, members);
    }

    private void Install(MembershipView view)
    {
        var now = Now;
        _view = view;
        _installedMax = view.Id;
        _joinBytes = null;
        _viewToAnnounce = view;
        Interlocked.Increment(ref _counters.viewChanges);
        if (_proposed is not null && _proposed.Id <= view.Id)
            _proposed = null;
        var keys = new HashSet<MemberKey>();
        foreach (var m in view.Members)
        {
            var key = MemberKey.Of(m);
            keys.Add(key);
            if (key == _localKey)
            {
                _local = m;
                _preferredRing = m.RingIndex;
            }
        }
        foreach (var peer in _peers.Values.ToArray())
        {
            // A member that left or was removed and is back in this view dropped what it knew of us: start afresh.
            if (keys.Contains(peer.Key) && !peer.Stale)
            {
                _departed.Remove(peer.Key); // suspected here, but the view kept it
                continue;
            }
            RemovePeer(peer, view.Id);
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
                UnicastEpoch = NewIncarnation(_time),
                BaselinePacket = _bcast.NextPacket - 1,
                BaselineMessage = _bcast.LastPacketizedMessage,
                CreatedInView = view.Id,
                ReadmittedAfter = _departed.Remove(key, out var removedIn) ? removedIn : 0,
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
            _joinedToAnnounce = true; // StartAsync completes after the handler's OnViewChanged for this view
        }
        if (MemberKey.Of(view.Coordinator) != _localKey)
            SendViewAck();
        // The next heartbeat (the new view id; where this node's stream starts, repeated for new members) goes out soon,
        // spread over a millisecond per member (by node hash) so that a large group's members do not all multicast at the same moment
        // while some are still reading the view (n² deliveries at once: 16,000 at 128 members).
        var offset = Math.Min(_heartbeatInterval, _localKey.Hash % (uint)view.Members.Count * _time.TimestampFrequency / 1000);
        _lastHeartbeat = now - _heartbeatInterval + offset;
        Schedule(now);
        FreeBroadcast();
        CheckAckWaiters();
        AdmitAllPending();
        if (IsActingCoordinator() && _joiners.Count > 0)
            Reconcile();
    }

    /// <summary>Drops a member's state: what it had not acknowledged of its unicast stream is gone, waiting sends to it fault.</summary>
    private void RemovePeer(PeerState peer, long viewId)
    {
        _peers.Remove(peer.Key);
        _departed[peer.Key] = viewId;
        peer.Broadcast.Release();
        peer.Unicast?.Release();
        if (peer.UnicastSend is { } stream)
        {
            while (stream.Unacked.Count > 0)
                stream.WindowUsed -= stream.Unacked.RemoveFirst().Length;
            AdmitPending(stream);
        }
    }

    /// <summary>Tells a member where this node's streams start for it: the broadcast stream after what it acknowledged
    /// (its join point until it acknowledges anything), and the unicast stream to it.</summary>
    private void SendStreamStart(PeerState peer)
    {
        Span<byte> payload = stackalloc byte[24];
        BinaryPrimitives.WriteInt64LittleEndian(payload, _bcast.HighestTransmitted);
        BinaryPrimitives.WriteInt64LittleEndian(payload[8..], peer.UnicastEpoch);
        BinaryPrimitives.WriteInt64LittleEndian(payload[16..], UnicastStart(peer));
        SendControl(PacketKind.StreamStart, peer.AckedPacket + 1, peer.AckedMessage, 0, peer.Member.Incarnation, 0, payload, peer.Member.Address, _bcast.Epoch);
    }

    /// <summary>The first packet of this node's unicast stream to <paramref name="peer"/> that it still has: after what the
    /// peer acknowledged.</summary>
    private static long UnicastStart(PeerState peer) => (peer.UnicastSend?.AckedPacket ?? 0) + 1;

    /// <summary>A member does not know where one of this node's streams starts (a StartRequest), or asks for packets it
    /// acknowledged before (its state was renewed while this node kept its own): tells it, at most once per repair window.</summary>
    private void AnswerStart(PeerState peer, long now)
    {
        if (peer.StartAnsweredAt != 0 && now - peer.StartAnsweredAt < _repairWindow)
            return;
        peer.StartAnsweredAt = now;
        peer.StartConfirmed = false; // heartbeats repeat it until the member acknowledges
        SendStreamStart(peer);
    }

    /// <summary>
    /// Coordinator, on a heartbeat of another group with an older coordinator (two nodes started at once, or a
    /// partition healed): asks that group to admit this node, and dissolves this group into it only when its
    /// coordinator answers with a view (a forged heartbeat alone changes nothing).
    /// </summary>
    private void ProbeMerge(MemberKey theirCoordinator, string other, long now)
    {
        if (_mergeTarget == theirCoordinator && now - _mergeProbeAt < _joinRetry)
            return;
        if (_mergeTarget != theirCoordinator)
            Log.Merging(_log, _local!.ToString(), other);
        _mergeTarget = theirCoordinator;
        _mergeProbeAt = now;
        SendJoin(theirCoordinator.Incarnation);
    }

    /// <summary>
    /// Leaves the current view and joins again, keeping the incarnation: every peer state is dropped on both
    /// sides (they removed us, we remove them), so streams restart from fresh join points. Broadcasts that
    /// waited for acknowledgements fault: this member cannot know who has them.
    /// </summary>
    private void Rejoin()
    {
        DropGroup();
        var now = Now;
        _joining = true;
        _joinStarted = now;
        _lastJoinSent = now;
        _heardGroupAt = now;
        SendJoin();
        Schedule(now + _joinRetry);
    }

    /// <summary>Forgets the current group (this member was removed from it, or merges into another): the handler
    /// is told (<see cref="GroupHandler.OnExcluded"/>) before the next view.</summary>
    private void DropGroup()
    {
        var epoch = _view.Id;
        for (var i = 0; i < 3; i++)
            SendLeave(epoch);
        foreach (var peer in _peers.Values.ToArray())
            RemovePeer(peer, epoch);
        _departed.Clear();
        _joiners.Clear();
        _acksDeferred.Clear();
        _proposed = null;
        _viewAcked.Clear();
        _viewAckedId = 0;
        _mergeTarget = default;
        _mergeProbeAt = 0;
        if (_view.Id != 0)
        {
            _excludedToAnnounce = _view;
            Interlocked.Increment(ref _counters.exclusions);
        }
        _view = new MembershipView(0, []);
        // A new broadcast stream epoch: the next group's members follow it from fresh join points, and whatever of the
        // old stream still reaches a member that kept its state for this node can never be taken for the new one.
        _bcast.Epoch = NewIncarnation(_time);
        _bcast.OpenBatch = null;
        FreeBroadcast();
        foreach (var waiter in _ackWaiters)
        {
            waiter.Registration.Unregister();
            waiter.Completion.TrySetException(new InvalidOperationException(
                "This member was removed from the view before enough members acknowledged; it is rejoining."));
        }
        _ackWaiters.Clear();
        AdmitAllPending();
    }

    /// <summary>Coordinator precedence: the lower incarnation (started earlier) is older; ties by node hash.</summary>
    private static bool IsOlder(MemberKey a, MemberKey b) =>
        a.Incarnation < b.Incarnation || a.Incarnation == b.Incarnation && a.Hash < b.Hash;
}
