using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

/// <summary>
/// Decides, for each view, whether it is the primary partition — the only side that arbitrates — and which epoch it
/// starts. After a view change every member sends the group its <see cref="PrimaryState"/> (the last primary it took
/// part in); once a member has every member's state for the view, it decides from those facts alone, so every member
/// of the view decides the same. No I/O; not thread-safe (the store calls it under its gate).
/// </summary>
/// <remarks>
/// <para>The view is primary when it holds a majority of the latest primary any of its members took part in (members of
/// that primary known to have left gracefully no longer count) and enough of those members <em>remember</em> it (took
/// part in it and kept their copies, in memory or on disk): a node restarted without its copies counts by its id, but
/// cannot stand for the updates it held (N16, see <see cref="Covers"/>). With <c>Cluster:Quorum</c> set: when it has
/// that many members. When no member ever took part in a primary (a cluster starting), the view is primary (with
/// <c>Cluster:Quorum</c>: when it is that large). Two primaries never overlap in time: a later one holds a majority of the one before, and a member
/// that acknowledged anything in the earlier one carries that primary into the decision.</para>
/// <para>A member whose last primary is not the latest one (it joined, restarted, or was cut off while the others went
/// on) is <em>fresh</em>: it arbitrated nothing meanwhile, and its copies count only where no other member has any. In the
/// primary it is fresh in, it arbitrates nothing either (<see cref="MembershipView.WithCatchingUp"/>): its sessions stay
/// with the member that arbitrated them before, so a join moves no session to a member that is still catching up; they
/// move to it in the next primary it takes part in caught up.</para>
/// <para>A join does not wait for the joiner's state (N9): when a majority of the view, which is also a majority of the
/// primary P they come from, reports P and <see cref="PrimaryState.Current"/> (each decided P, took part in it, and
/// installed no view since), their states alone decide: primary, the others fresh. The joiners' states could not change
/// that: a primary newer than P would hold a majority of P, so one of those members, which installed no view since P.
/// At most one P can qualify (two majorities of the view share a member, and a member reports one primary), so a member
/// that has more states decides the same as one that has only theirs. Not with <c>Cluster:Quorum</c> (primaries may
/// overlap there): then every member's state is waited for.</para>
/// </remarks>
internal sealed class PrimaryTracker(string localNode, int quorum, int writeConcern = 1)
{
    private readonly Dictionary<string, PrimaryState> _states = new(StringComparer.Ordinal);
    private readonly Dictionary<(long, ulong), Dictionary<string, PrimaryState>> _early = [];
    private readonly HashSet<string> _leavers = new(StringComparer.Ordinal);
    private MembershipView? _view;
    private int _round;
    private ulong _viewHash;

    /// <summary>The last primary this node took part in, caught up (epoch 0: none). A member that decided a primary but
    /// had not caught up with it when the next view came is behind in that one too.</summary>
    public PrimaryRecord Last { get; private set; } = PrimaryRecord.None;

    private PrimaryRecord? _joining; // the primary this node is catching up with
    private bool _recovered;         // whether this node recovered what it arbitrates in Last (always, once caught up)

    /// <summary>The decision for the current view, once made.</summary>
    public PrimaryDecision? Decision { get; private set; }

    /// <summary>Whether this node was excluded since it last caught up (it may lack updates of its last primary, which went
    /// on without it): it is fresh in the next primary, whatever its last epoch. Cleared once it catches up.</summary>
    public bool Behind { get; set; }

    /// <summary>Whether this node is leaving gracefully (announced in its state).</summary>
    public bool Leaving { get; set; }

    /// <summary>Called when this node takes part in a primary (the new <see cref="Last"/>): the store persists it beside
    /// its disk copy, so a restart with the disk still remembers it (N16).</summary>
    public Action<PrimaryRecord>? TookPart { get; set; }

    /// <summary>A node restarted with its disk copy: the last primary it took part in, as persisted. It is behind in it
    /// (it was down while the others may have gone on), so it catches up first; but it counts toward that primary's
    /// majority as a member that remembers it, since its copies survived.</summary>
    public void Restore(PrimaryRecord record)
    {
        if (record.Epoch <= Last.Epoch)
            return;
        Last = record;
        Behind = true;
    }

    /// <summary>Identifies a view's member set, and the decision round in it.</summary>
    public static ulong HashOf(MembershipView view, int round = 0)
    {
        var hash = new XxHash64();
        Span<byte> number = stackalloc byte[8];
        foreach (var m in view.Members.OrderBy(m => m.NodeId, StringComparer.Ordinal))
        {
            hash.Append(Encoding.UTF8.GetBytes(m.NodeId));
            MemoryMarshal.Write(number, m.Incarnation);
            hash.Append(number);
        }
        MemoryMarshal.Write(number, view.Id);
        hash.Append(number);
        if (round != 0)
        {
            MemoryMarshal.Write(number, (long)round);
            hash.Append(number);
        }
        return hash.GetCurrentHashAsUInt64();
    }

    /// <summary>A view was installed (round 0), or its members caught up hand their sessions back (the next round): the
    /// state this node sends the group for it. A decision made from states that arrived before is returned by the next
    /// <see cref="Receive"/>, or at once here.</summary>
    public (PrimaryState Own, PrimaryDecision? Decision) BeginView(MembershipView view, int round = 0)
    {
        // Straight from the view of the primary it took part in: decided, caught up, not excluded since.
        var current = Decision is { IsPrimary: true } previous && Last.Epoch == previous.Epoch && !Behind && !Leaving;
        _view = view;
        _round = round;
        _viewHash = HashOf(view, round);
        _states.Clear();
        Decision = null;
        var own = new PrimaryState
        {
            ViewId = view.Id,
            ViewHash = _viewHash,
            LastEpoch = Last.Epoch,
            LastMembers = [.. Last.Members],
            LastRings = [.. Last.Rings],
            LastPassive = [.. Last.Passive],
            Current = current,
            Round = round,
            WriteConcern = Math.Max(0, writeConcern),
            Unrecovered = Last.Epoch != 0 && !_recovered,
            Leavers = [.. _leavers],
            Leaving = Leaving,
            Behind = Behind,
        };
        _states[localNode] = own;
        if (_early.Remove((view.Id, _viewHash), out var early))
        {
            foreach (var (node, state) in early)
                _states.TryAdd(node, state);
        }
        // States for views older than this one will never be used (this view's next round may still come).
        foreach (var key in _early.Keys.Where(k => k.Item1 < view.Id).ToList())
            _early.Remove(key);
        return (own, TryDecide());
    }

    /// <summary>A member's state; returns the decision when this completed the view's set.</summary>
    public PrimaryDecision? Receive(string from, PrimaryState state)
    {
        if (state.Leaving && Last.Members.Contains(from))
            _leavers.Add(from);
        foreach (var leaver in state.Leavers)
        {
            if (Last.Members.Contains(leaver))
                _leavers.Add(leaver);
        }
        if (_view is null || state.ViewId != _view.Id || state.ViewHash != _viewHash)
        {
            if (_view is null || state.ViewId > _view.Id || (state.ViewId == _view.Id && state.Round > _round))
            {
                if (!_early.TryGetValue((state.ViewId, state.ViewHash), out var early))
                {
                    if (_early.Count >= 16)
                        return null; // a flood of views we never install: forget them
                    _early[(state.ViewId, state.ViewHash)] = early = new(StringComparer.Ordinal);
                }
                early[from] = state;
            }
            return null;
        }
        if (Decision is not null || _view.Find(from) is null)
            return null;
        _states[from] = state;
        return TryDecide();
    }

    /// <summary>The members of the current view whose state for it has not arrived (none once decided).</summary>
    public List<string> Missing() =>
        _view is null || Decision is not null ? [] : [.. _view.Members.Select(m => m.NodeId).Where(n => !_states.ContainsKey(n))];

    /// <summary>A member announced it is leaving gracefully.</summary>
    public void MemberLeaving(string node)
    {
        if (Last.Members.Contains(node))
            _leavers.Add(node);
    }

    private PrimaryDecision? TryDecide()
    {
        var view = _view!;
        if (JoinOfCurrentMajority() is { } join)
            return Decided(view, true, Math.Max(join.Latest.Epoch + 1, view.Id), join.Latest, join.Fresh, join.Present, join.Latest.Members.Count, join.Present);
        foreach (var m in view.Members)
        {
            if (!_states.ContainsKey(m.NodeId))
                return null;
        }
        // The latest primary any member took part in; members that left it gracefully no longer count.
        var latest = PrimaryRecord.None;
        foreach (var s in _states.Values)
        {
            var record = PrimaryRecord.Of(s);
            if (record.IsNewerThan(latest))
                latest = record;
        }
        var leavers = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in _states.Values)
        {
            foreach (var l in s.Leavers)
                leavers.Add(l);
        }
        leavers.UnionWith(_leavers);
        foreach (var (node, s) in _states)
        {
            if (s.Leaving)
                leavers.Add(node);
        }
        var basis = latest.Members.Where(m => !leavers.Contains(m)).ToHashSet(StringComparer.Ordinal);
        var present = view.Members.Count(m => basis.Contains(m.NodeId));
        var remembering = new List<PrimaryState>();
        var outside = 0; // members of the basis known not to have taken part in it: they report an older primary
        foreach (var m in view.Members)
        {
            var s = _states[m.NodeId];
            if (!basis.Contains(m.NodeId))
                continue;
            if (Remembers(s, latest))
                remembering.Add(s);
            else if (s.LastEpoch != 0 && s.LastEpoch < latest.Epoch)
                outside++;
        }
        var concern = WriteConcernOf(_states.Values, latest);
        var primary = quorum > 0
            ? view.Members.Count >= quorum
            : latest.Epoch == 0 || basis.Count == 0 || (present * 2 > basis.Count && Covers(remembering, basis.Count - outside, concern));
        var fresh = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (node, s) in _states)
        {
            if (s.Behind || s.LastEpoch != latest.Epoch || !PrimaryRecord.Of(s).SameMembers(latest))
                fresh.Add(node);
        }
        // A cluster starting from nothing (or from disk copies only): nobody is behind anybody.
        if (latest.Epoch == 0)
            fresh.Clear();
        // At least the view's id: a member may decide a view its peers moved past without deciding (it was paused), so
        // two primaries can start from the same latest one; view ids never repeat among members that share one, so their
        // epochs differ, and the later view's is the higher. Above the latest's too (view ids restart with the cluster).
        var epoch = primary ? Math.Max(latest.Epoch + 1, view.Id) : latest.Epoch;
        return Decided(view, primary, epoch, latest, fresh, present, basis.Count, remembering.Count);
    }

    /// <summary>Whether a member's state carries <paramref name="latest"/>: it took part in it and still holds what it held
    /// in it (in memory, or on its disk after a restart). A member restarted without its copies reports no primary.</summary>
    private static bool Remembers(PrimaryState s, PrimaryRecord latest) =>
        s.LastEpoch == latest.Epoch && PrimaryRecord.Of(s).SameMembers(latest);

    /// <summary>The write concern the latest primary's commits waited for: the smallest any member states (members
    /// should agree; the smallest is the safe reading), capped by the other members it had.</summary>
    private static int WriteConcernOf(IEnumerable<PrimaryState> states, PrimaryRecord latest)
    {
        var concern = int.MaxValue;
        foreach (var s in states)
            concern = Math.Min(concern, s.WriteConcern);
        return concern == int.MaxValue ? 0 : Math.Min(concern, Math.Max(0, latest.Members.Count - 1));
    }

    /// <summary>
    /// N16: counting a member by its node id is not enough when it restarted without its copies; the members that
    /// remember the latest primary must (a) hold a copy of every update acknowledged in it, and (b) include a member of
    /// any primary formed after it without our knowing.
    /// </summary>
    /// <remarks><paramref name="takers"/> is how many members may have taken part in it: its basis, less the members in
    /// the view that report an older primary (they were catching up in it and never caught up, so they acknowledged
    /// nothing there). A member that restarted without its copies reports none: it may have taken part.
    /// (a) An update acknowledged there is held by <paramref name="concern"/> + 1 of those who took part; any
    /// <c>takers − concern</c> of them include one. With a concern of 0 nothing was promised: no bound. (b) A later
    /// primary was formed by members that remembered this one, at least half of those who took part: any half of them
    /// include one of it. A member that comes straight from the latest primary (<see cref="PrimaryState.Current"/>: it
    /// installed no view since) also rules a later one out, as it would have seen the view that formed it.</remarks>
    private static bool Covers(List<PrimaryState> remembering, int takers, int concern)
    {
        if (!HoldsEveryAcknowledged(remembering.Count, takers, concern))
            return false;
        return remembering.Count * 2 >= takers || remembering.Any(s => s.Current);
    }

    private static bool HoldsEveryAcknowledged(int remembering, int basis, int concern) => concern == 0 || remembering >= basis - concern;

    /// <summary>The primary P that a majority of the view comes straight from, when that majority is also a majority of P
    /// and every member of P in the view is among them (see the remarks): the view's decision needs no other state.</summary>
    private (PrimaryRecord Latest, HashSet<string> Fresh, int Present)? JoinOfCurrentMajority()
    {
        if (quorum > 0)
            return null;
        var view = _view!;
        foreach (var candidate in _states.Values)
        {
            if (!candidate.Current || candidate.LastEpoch == 0)
                continue;
            var latest = PrimaryRecord.Of(candidate);
            var present = 0;
            var fresh = new HashSet<string>(StringComparer.Ordinal);
            var all = true;
            foreach (var m in view.Members)
            {
                if (!latest.Members.Contains(m.NodeId))
                {
                    fresh.Add(m.NodeId); // joined since P: it arbitrated nothing P's members do not know of
                    continue;
                }
                if (!_states.TryGetValue(m.NodeId, out var s) || !s.Current || s.Behind || s.Leaving || s.LastEpoch != latest.Epoch
                    || !PrimaryRecord.Of(s).SameMembers(latest))
                {
                    all = false;
                    break;
                }
                present++;
            }
            if (all && present * 2 > latest.Members.Count && present * 2 > view.Members.Count
                && HoldsEveryAcknowledged(present, latest.Members.Count, WriteConcernOf(view.Members.Where(m => latest.Members.Contains(m.NodeId)).Select(m => _states[m.NodeId]), latest)))
                return (latest, fresh, present);
        }
        return null;
    }

    private PrimaryDecision Decided(MembershipView view, bool primary, long epoch, PrimaryRecord latest, HashSet<string> fresh, int present, int basis, int remembering)
    {
        // Members catching up arbitrate nothing in this primary (unless every member is: then nobody would).
        var passive = primary && fresh.Count < view.Members.Count ? fresh : [];
        var decided = primary ? view.WithCatchingUp(passive) : view;
        // Members that arbitrated in the latest primary without recovering what they took over: each session they
        // arbitrate is recovered again (the states say so, so every member sends them its digests for them).
        var unrecovered = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (node, s) in _states)
        {
            if (s.Unrecovered && !fresh.Contains(node) && s.LastEpoch == latest.Epoch && view.Find(node) is not null)
                unrecovered.Add(node);
        }
        Decision = new PrimaryDecision(decided, primary, epoch, latest, fresh, present, basis, remembering, unrecovered);
        _joining = null;
        if (primary)
        {
            var record = new PrimaryRecord(epoch, [.. view.Members.Select(m => m.NodeId)], [.. view.Members.Select(m => m.RingIndex)], [.. passive]);
            if (fresh.Contains(localNode))
                _joining = record;
            else
                TakePart(record, recovered: false);
        }
        return Decision;
    }

    /// <summary>This node caught up with the primary of <paramref name="epoch"/>: it takes part in it from now on.</summary>
    public void CaughtUp(long epoch)
    {
        if (_joining is { } record && record.Epoch == epoch)
            TakePart(record, recovered: true);
    }

    /// <summary>This node, which took part in the primary of <paramref name="epoch"/> from its decision, recovered the
    /// sessions it took over as their arbiter in it.</summary>
    public void Recovered(long epoch)
    {
        if (Last.Epoch == epoch)
            _recovered = true;
    }

    private void TakePart(PrimaryRecord record, bool recovered)
    {
        _recovered = recovered;
        Last = record;
        Behind = false;
        _joining = null;
        _leavers.Clear();
        TookPart?.Invoke(record);
    }
}

/// <summary>A primary partition: its epoch, its members' node ids and their ring indexes in it, and which of them were
/// catching up in it (they arbitrated nothing).</summary>
internal sealed record PrimaryRecord(long Epoch, IReadOnlyList<string> Members, IReadOnlyList<int> Rings, IReadOnlyList<string> Passive)
{
    public static readonly PrimaryRecord None = new(0, [], [], []);

    public static PrimaryRecord Of(PrimaryState s) =>
        new(s.LastEpoch, s.LastMembers, s.LastRings.Count == s.LastMembers.Count ? s.LastRings : [.. s.LastMembers.Select(Member.RingIndexOf)], s.LastPassive);

    /// <summary>The member that arbitrated <paramref name="sessionId"/> in this primary (null: none).</summary>
    public string? ArbiterOf(string sessionId) => ArbiterOf(sessionId, skipPassive: true);

    private string? ArbiterOf(string sessionId, bool skipPassive)
    {
        if (Members.Count == 0)
            return null;
        SessionIds.TryParseOwner(sessionId, out var ring);
        string? first = null, best = null;
        int firstIndex = int.MaxValue, bestIndex = int.MaxValue;
        for (var i = 0; i < Members.Count; i++)
        {
            var (node, index) = (Members[i], Rings[i]);
            if (skipPassive && Passive.Count > 0 && Passive.Contains(node))
                continue;
            if (index < firstIndex || (index == firstIndex && string.CompareOrdinal(node, first) < 0))
                (first, firstIndex) = (node, index);
            if (index >= ring && (index < bestIndex || (index == bestIndex && string.CompareOrdinal(node, best) < 0)))
                (best, bestIndex) = (node, index);
        }
        return best ?? first;
    }

    /// <summary>Whether <paramref name="node"/> held <paramref name="sessionId"/> in this primary: its arbiter, or (with
    /// <paramref name="backups"/> ≥ 0) one of the next <paramref name="backups"/> members in ring order; every member
    /// when <paramref name="backups"/> is negative.</summary>
    public bool Held(string sessionId, string node, int backups)
    {
        if (backups < 0)
            return Members.Contains(node);
        var arbiter = ArbiterOf(sessionId);
        if (arbiter is null)
            return false;
        if (arbiter == node)
            return true;
        if (Passive.Count > 0 && Passive.Contains(node) && ArbiterOf(sessionId, skipPassive: false) == node)
            return true; // a ring owner catching up held its sessions (BackupReplication)
        var ring = Enumerable.Range(0, Members.Count).OrderBy(i => Rings[i]).ThenBy(i => Members[i], StringComparer.Ordinal).Select(i => Members[i]).ToList();
        var at = ring.IndexOf(arbiter);
        for (var k = 1; k <= backups && k < ring.Count; k++)
        {
            if (ring[(at + k) % ring.Count] == node)
                return true;
        }
        return false;
    }

    public bool IsNewerThan(PrimaryRecord other) =>
        Epoch != other.Epoch ? Epoch > other.Epoch : string.CompareOrdinal(Key, other.Key) > 0;

    public bool SameMembers(PrimaryRecord other) => Key == other.Key;

    private string Key => _key ??= string.Join('\n', Members.Order(StringComparer.Ordinal));

    private string? _key;
}

/// <summary>What the members of a view decided together.</summary>
/// <param name="View">The view.</param>
/// <param name="IsPrimary">Whether it may arbitrate.</param>
/// <param name="Epoch">The epoch it starts (primary), or the latest primary's (not primary).</param>
/// <param name="Previous">The latest primary before it.</param>
/// <param name="Fresh">Members that did not take part in <paramref name="Previous"/>: they catch up before they serve.</param>
/// <param name="Present">How many members of the previous primary (less graceful leavers) are in the view.</param>
/// <param name="Basis">How many members of the previous primary (less graceful leavers) counted.</param>
/// <param name="Remembering">How many of the present ones remember it (took part in it and kept their copies).</param>
/// <param name="Unrecovered">Members that arbitrated in <paramref name="Previous"/> without having recovered the sessions
/// they took over in it: their sessions are recovered again, as if their arbiter had changed.</param>
internal sealed record PrimaryDecision(MembershipView View, bool IsPrimary, long Epoch, PrimaryRecord Previous, IReadOnlySet<string> Fresh, int Present, int Basis, int Remembering, IReadOnlySet<string> Unrecovered);
