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
/// that primary known to have left gracefully no longer count), or <c>Cluster:Quorum</c> members when that is set. When
/// no member ever took part in a primary (a cluster starting), the view is primary (with <c>Cluster:Quorum</c>: when it
/// is that large). Two primaries never overlap in time: a later one holds a majority of the one before, and a member
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
internal sealed class PrimaryTracker(string localNode, int quorum)
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

    /// <summary>The decision for the current view, once made.</summary>
    public PrimaryDecision? Decision { get; private set; }

    /// <summary>Whether this node was excluded since it last caught up (it may lack updates of its last primary, which went
    /// on without it): it is fresh in the next primary, whatever its last epoch. Cleared once it catches up.</summary>
    public bool Behind { get; set; }

    /// <summary>Whether this node is leaving gracefully (announced in its state).</summary>
    public bool Leaving { get; set; }

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
            return Decided(view, true, Math.Max(join.Latest.Epoch + 1, view.Id), join.Latest, join.Fresh, join.Present, join.Latest.Members.Count);
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
        var primary = quorum > 0
            ? view.Members.Count >= quorum
            : latest.Epoch == 0 || basis.Count == 0 || present * 2 > basis.Count;
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
        return Decided(view, primary, epoch, latest, fresh, present, basis.Count);
    }

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
            if (all && present * 2 > latest.Members.Count && present * 2 > view.Members.Count)
                return (latest, fresh, present);
        }
        return null;
    }

    private PrimaryDecision Decided(MembershipView view, bool primary, long epoch, PrimaryRecord latest, HashSet<string> fresh, int present, int basis)
    {
        // Members catching up arbitrate nothing in this primary (unless every member is: then nobody would).
        var passive = primary && fresh.Count < view.Members.Count ? fresh : [];
        var decided = primary ? view.WithCatchingUp(passive) : view;
        Decision = new PrimaryDecision(decided, primary, epoch, latest, fresh, present, basis);
        _joining = null;
        if (primary)
        {
            var record = new PrimaryRecord(epoch, [.. view.Members.Select(m => m.NodeId)], [.. view.Members.Select(m => m.RingIndex)], [.. passive]);
            if (fresh.Contains(localNode))
                _joining = record;
            else
                TakePart(record);
        }
        return Decision;
    }

    /// <summary>This node caught up with the primary of <paramref name="epoch"/>: it takes part in it from now on.</summary>
    public void CaughtUp(long epoch)
    {
        if (_joining is { } record && record.Epoch == epoch)
            TakePart(record);
    }

    private void TakePart(PrimaryRecord record)
    {
        Last = record;
        Behind = false;
        _joining = null;
        _leavers.Clear();
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
internal sealed record PrimaryDecision(MembershipView View, bool IsPrimary, long Epoch, PrimaryRecord Previous, IReadOnlySet<string> Fresh, int Present, int Basis);
