using System.Globalization;
using Multicast.Nemesis.History;
using Multicast.Nemesis.Schedules;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.Nemesis.Checking;

/// <summary>
/// Checks a recorded history and the nodes' final tables against what the store contract promises. A pure function:
/// the same history gives the same verdict. Only conclusions the history proves are reported: a step's real effect lies
/// somewhere between its invocation and its answer, so a bound uses the invocation or the answer, whichever is safe.
/// </summary>
/// <remarks>
/// <para>Pessimistic locking (the counter): per session, with A acknowledged writes and U ambiguous ones, the final
/// value lies in [A, A + U] and is at least every acknowledged answer; no two acknowledged writes answered the same value;
/// no answer exceeds the writes sent before it; a read is never below a value acknowledged before the read was sent;
/// the count read always matches the write the session names as its last (key <c>op</c>).</para>
/// <para><c>Locking=None</c>: every write sets a key of its own; an acknowledged write's key is in the final state and
/// in every read sent after the acknowledgement; no key of a refused write is ever seen.</para>
/// <para>Both: a step refused with a typed exception changed nothing; committed fencing tokens increase with versions
/// and no commit was accepted under a token older than a lock granted before that commit started; a session created
/// and never removed is found by every later request and held after healing; a removed session is never found again;
/// after healing every live node that holds a session holds the same version and content, and every node the placement
/// requires holds it.</para>
/// </remarks>
internal sealed class HistoryChecker(LockingMode locking, bool everyNodeHolds, int copies = 2)
{
    public const string CountKey = "count";
    public const string MarkerKey = "op";
    public const string WriteKeyPrefix = "w";

    public IReadOnlyList<Violation> Check(IReadOnlyList<OpRecord> ops, IReadOnlyList<NodeSnapshot> final, bool settled, string? settleProblem = null)
    {
        var violations = new List<Violation>();
        CheckAnswers(ops, violations);
        var byId = ops.ToDictionary(o => o.Id);
        foreach (var group in ops.Where(o => o.SessionId is not null).GroupBy(o => o.SessionId!, StringComparer.Ordinal))
        {
            var steps = group.OrderBy(o => o.Id).ToList();
            var session = new SessionFacts(group.Key, steps, locking);
            var holders = final.Where(n => n.Live && n.Sessions.ContainsKey(group.Key)).ToList();
            CheckExistence(session, holders, violations);
            if (locking == LockingMode.Pessimistic)
            {
                CheckCounter(session, byId, holders, violations);
                CheckFencing(session, violations);
            }
            else
            {
                CheckWriteKeys(session, holders, violations);
            }
            CheckConvergence(session, final, holders, violations);
        }
        if (!settled)
            violations.Add(new Violation(ViolationKind.NotLive, null, $"the cluster did not settle after healing: {settleProblem ?? "not ready"}", []));
        foreach (var probes in ops.Where(o => o.Kind == OpKind.Probe).GroupBy(o => o.SessionId).Where(g => g.All(o => o.Outcome != OpOutcome.Ok)))
        {
            var last = probes.MaxBy(o => o.Id)!;
            violations.Add(new Violation(ViolationKind.NotLive, last.SessionId,
                $"after healing, session {last.SessionId} did not take a write in {probes.Count()} attempts: #{last.Id} {last.Outcome} {last.Error}", [.. probes.Select(o => o.Id)]));
        }
        return violations;
    }

    /// <summary>Untyped exceptions from a live node, and steps that never answered.</summary>
    private static void CheckAnswers(IReadOnlyList<OpRecord> ops, List<Violation> violations)
    {
        foreach (var op in ops.Where(o => !o.NodeDied))
        {
            if (op.Hung)
                violations.Add(new Violation(ViolationKind.Hung, op.SessionId, $"#{op.Id} ({op.Kind} on node{op.Node + 1}) got no answer", [op.Id]));
            else if (op.Outcome == OpOutcome.Ambiguous && !op.TypedError)
                violations.Add(new Violation(ViolationKind.UntypedFailure, op.SessionId, $"#{op.Id} ({op.Kind} on node{op.Node + 1}) failed with {op.Error}", [op.Id]));
        }
    }

    private static void CheckExistence(SessionFacts s, List<NodeSnapshot> holders, List<Violation> violations)
    {
        if (s.Create is { Outcome: OpOutcome.NotApplied } refused)
        {
            foreach (var found in s.Steps.Where(o => o != refused && o.Found is not null && o.ReadVersion is not null))
                violations.Add(new Violation(ViolationKind.RefusedButApplied, s.Id, $"the create #{refused.Id} was refused ({refused.Error}) but #{found.Id} found the session", [refused.Id, found.Id]));
            if (holders.Count > 0 && !s.Steps.Any(o => o.Found is not null && o.ReadVersion is not null))
                violations.Add(new Violation(ViolationKind.RefusedButApplied, s.Id, $"the create #{refused.Id} was refused ({refused.Error}) but {Names(holders)} hold the session", [refused.Id]));
        }

        if (s.Create is { Outcome: OpOutcome.Ok } created)
        {
            // Not found although created and no removal had been sent before the answer.
            foreach (var missing in s.Steps.Where(o => o.Outcome == OpOutcome.NotFound && o.Invoked > created.Completed))
            {
                var answered = missing.Completed ?? TimeSpan.MaxValue;
                var removal = s.Removals.FirstOrDefault(r => r.Invoked < answered && r.Outcome is not OpOutcome.NotApplied);
                if (removal is null)
                    violations.Add(new Violation(ViolationKind.LostSession, s.Id, $"#{missing.Id} did not find the session created by #{created.Id} (acknowledged at {S(created.Completed)}), and no removal had been sent", [created.Id, missing.Id]));
            }
        }

        if (s.FirstAckedRemoval is { } removed)
        {
            foreach (var back in s.Steps.Where(o => o.Invoked > removed.Completed && o.ReadVersion is not null))
                violations.Add(new Violation(ViolationKind.Resurrection, s.Id, $"#{back.Id} found the session (v{back.ReadVersion}) after its removal #{removed.Id} was acknowledged at {S(removed.Completed)}", [removed.Id, back.Id]));
            if (holders.Count > 0)
                violations.Add(new Violation(ViolationKind.Resurrection, s.Id, $"after healing {Names(holders)} hold the session removed by #{removed.Id}", [removed.Id]));
        }
        else if (s.MustExist && holders.Count == 0)
        {
            var refusedRemovals = s.Removals.Where(r => r.Outcome == OpOutcome.NotApplied).ToList();
            var kind = refusedRemovals.Count > 0 ? ViolationKind.RefusedButApplied : ViolationKind.LostSession;
            var why = refusedRemovals.Count > 0 ? $"; its only removals were refused: {string.Join(", ", refusedRemovals.Select(r => $"#{r.Id}"))}" : string.Empty;
            violations.Add(new Violation(kind, s.Id, $"after healing no live node holds the session created by #{s.Create!.Id}{why}", [s.Create!.Id, .. refusedRemovals.Select(r => r.Id)]));
        }
    }

    private static void CheckCounter(SessionFacts s, IReadOnlyDictionary<int, OpRecord> byId, List<NodeSnapshot> holders, List<Violation> violations)
    {
        var acked = s.Writes.Where(w => w.Outcome == OpOutcome.Ok && w.WrittenCount is not null).ToList();
        var ambiguous = s.Writes.Count(w => w.Outcome is OpOutcome.Ambiguous or OpOutcome.Pending);

        foreach (var same in acked.GroupBy(w => w.WrittenCount!.Value).Where(g => g.Count() > 1))
            violations.Add(new Violation(ViolationKind.LostUpdate, s.Id, $"acknowledged writes {string.Join(", ", same.Select(w => $"#{w.Id}"))} all answered {same.Key}", [.. same.Select(w => w.Id)]));

        foreach (var w in acked)
        {
            var sent = s.Writes.Count(o => o.Invoked <= w.Completed);
            if (w.WrittenCount > sent)
                violations.Add(new Violation(ViolationKind.PhantomUpdate, s.Id, $"#{w.Id} answered {w.WrittenCount} but only {sent} writes had been sent by then", [w.Id]));
        }

        foreach (var r in s.Steps.Where(o => o.ReadVersion is not null && o.Found is not null))
        {
            var value = r.ReadCount ?? 0;
            var before = acked.Where(w => w.Completed < r.Invoked).MaxBy(w => w.WrittenCount);
            if (before is not null && value < before.WrittenCount)
                violations.Add(new Violation(ViolationKind.LostUpdate, s.Id, $"#{r.Id} read {value}, but #{before.Id} had acknowledged {before.WrittenCount} before the read was sent", [before.Id, r.Id]));
            var sent = s.Writes.Count(o => o.Invoked <= r.Found);
            if (value > sent)
                violations.Add(new Violation(ViolationKind.PhantomUpdate, s.Id, $"#{r.Id} read {value}, but only {sent} writes had been sent by then", [r.Id]));
            CheckMarker(s, byId, r.Id, r.ReadMarker, value, $"#{r.Id} read", violations);
        }

        if (s.FirstAckedRemoval is not null || FinalState(holders, s.Id) is not { } state)
            return; // a copy of a removed session is a resurrection, reported on its own: its contents prove nothing more
        var final = state.Attributes.TryGetValue(CountKey, out var bytes) && bytes.Length == 4 ? System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes) : 0;
        var marker = state.Attributes.TryGetValue(MarkerKey, out var m) && m.Length == 4 ? System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(m) : (int?)null;
        CheckMarker(s, byId, null, marker, final, "the final state", violations);
        var best = acked.MaxBy(w => w.WrittenCount);
        if (final < acked.Count || (best is not null && final < best.WrittenCount))
        {
            violations.Add(new Violation(ViolationKind.LostUpdate, s.Id,
                $"final count {final} (v{state.Version}) but {acked.Count} writes were acknowledged, the highest answering {best?.WrittenCount}", best is null ? [] : [best.Id]));
        }
        else if (final > acked.Count + ambiguous)
        {
            var refused = s.Writes.Where(w => w.Outcome == OpOutcome.NotApplied).Select(w => w.Id).ToList();
            violations.Add(new Violation(refused.Count > 0 ? ViolationKind.RefusedButApplied : ViolationKind.PhantomUpdate, s.Id,
                $"final count {final} (v{state.Version}) exceeds {acked.Count} acknowledged + {ambiguous} ambiguous writes ({refused.Count} refused)", refused.Take(12).ToList()));
        }
    }

    /// <summary>The last write the session names must exist, must not have been refused, and must have written what was read.</summary>
    private static void CheckMarker(SessionFacts s, IReadOnlyDictionary<int, OpRecord> byId, int? reader, int? marker, int value, string who, List<Violation> violations)
    {
        if (marker is not { } id)
            return;
        if (!byId.TryGetValue(id, out var writer) || writer.SessionId != s.Id)
        {
            violations.Add(new Violation(ViolationKind.PhantomUpdate, s.Id, $"{who} names op #{id} as its last write, which never wrote this session", reader is null ? [] : [reader.Value]));
            return;
        }
        if (writer.Outcome == OpOutcome.NotApplied)
            violations.Add(new Violation(ViolationKind.RefusedButApplied, s.Id, $"{who} shows the write of #{id}, which was refused: {writer.Error}", reader is null ? [id] : [id, reader.Value]));
        else if (writer.WrittenCount is { } written && written != value)
            violations.Add(new Violation(ViolationKind.LostUpdate, s.Id, $"{who} count {value} with op #{id} as its last write, which wrote {written}: the state mixes two versions", reader is null ? [id] : [id, reader.Value]));
    }

    private static void CheckFencing(SessionFacts s, List<Violation> violations)
    {
        // In commit order: each acknowledged increment wrote one more than the one before it (Session.State after a
        // commit is not used: a store may hand back a later version than the one the request committed).
        var committed = s.Writes.Where(w => w.Outcome == OpOutcome.Ok && w.Token is not null && w.WrittenCount is not null)
            .OrderBy(w => w.WrittenCount).ThenBy(w => w.Id).ToList();
        for (var i = 1; i < committed.Count; i++)
        {
            var (a, b) = (committed[i - 1], committed[i]);
            if (a.WrittenCount != b.WrittenCount && b.Token <= a.Token)
                violations.Add(new Violation(ViolationKind.Fencing, s.Id, $"count {b.WrittenCount} (#{b.Id}) was committed under token {b.Token}, not above the token {a.Token} of count {a.WrittenCount} (#{a.Id})", [a.Id, b.Id]));
        }
        var grants = s.Steps.Where(o => o.Token is not null && o.Found is not null).ToList();
        foreach (var a in committed)
        {
            var newer = grants.Where(g => g.Token > a.Token && g.Found < a.CommitStarted).MinBy(g => g.Found);
            if (newer is not null)
                violations.Add(new Violation(ViolationKind.Fencing, s.Id,
                    $"#{a.Id} committed under token {a.Token} at {S(a.CommitStarted)}, after #{newer.Id} had been granted token {newer.Token} at {S(newer.Found)}: two holders committed under overlapping leases", [a.Id, newer.Id]));
        }
    }

    private static void CheckWriteKeys(SessionFacts s, List<NodeSnapshot> holders, List<Violation> violations)
    {
        var acked = s.Writes.Where(w => w.Outcome == OpOutcome.Ok).ToList();
        var refused = s.Writes.Where(w => w.Outcome == OpOutcome.NotApplied).Select(w => w.Id).ToHashSet();
        var sent = s.Writes.Select(w => w.Id).ToHashSet();
        foreach (var r in s.Steps.Where(o => o.ReadKeys is not null))
        {
            var seen = r.ReadKeys!.ToHashSet();
            foreach (var w in acked.Where(w => w.Completed < r.Invoked && !seen.Contains(w.Id)))
                violations.Add(new Violation(ViolationKind.LostUpdate, s.Id, $"#{r.Id} does not see the write of #{w.Id}, acknowledged at {S(w.Completed)} before the read was sent", [w.Id, r.Id]));
            foreach (var id in seen.Where(refused.Contains))
                violations.Add(new Violation(ViolationKind.RefusedButApplied, s.Id, $"#{r.Id} sees the write of #{id}, which was refused", [id, r.Id]));
        }
        if (s.FirstAckedRemoval is not null || FinalState(holders, s.Id) is not { } state)
            return;
        var keys = WriteKeys(state.Attributes).ToHashSet();
        foreach (var w in acked.Where(w => !keys.Contains(w.Id)))
            violations.Add(new Violation(ViolationKind.LostUpdate, s.Id, $"the final state (v{state.Version}) lacks the acknowledged write of #{w.Id}", [w.Id]));
        foreach (var id in keys.Where(refused.Contains))
            violations.Add(new Violation(ViolationKind.RefusedButApplied, s.Id, $"the final state (v{state.Version}) holds the write of #{id}, which was refused", [id]));
        foreach (var id in keys.Where(k => !sent.Contains(k)))
            violations.Add(new Violation(ViolationKind.PhantomUpdate, s.Id, $"the final state (v{state.Version}) holds a write #{id} never sent to this session", []));
    }

    /// <summary>The convergence part alone, without a history (what the settle wait polls): every session some live node
    /// holds is held identically by every holder and by every node its placement requires.</summary>
    public IReadOnlyList<Violation> Convergence(IReadOnlyList<NodeSnapshot> final)
    {
        var violations = new List<Violation>();
        var ids = final.Where(n => n.Live).SelectMany(n => n.Sessions.Keys).Distinct(StringComparer.Ordinal);
        foreach (var id in ids)
            CheckCopies(id, final, [.. final.Where(n => n.Live && n.Sessions.ContainsKey(id))], violations);
        return violations;
    }

    private void CheckConvergence(SessionFacts s, IReadOnlyList<NodeSnapshot> final, List<NodeSnapshot> holders, List<Violation> violations)
    {
        if (s.FirstAckedRemoval is not null || (!s.MustExist && holders.Count == 0))
            return; // resurrections and lost sessions are reported on their own
        CheckCopies(s.Id, final, holders, violations);
    }

    private void CheckCopies(string id, IReadOnlyList<NodeSnapshot> final, List<NodeSnapshot> holders, List<Violation> violations)
    {
        if (holders.Count == 0)
            return;
        var first = holders[0].Sessions[id];
        if (holders.Skip(1).Any(h => !Same(first, h.Sessions[id])))
        {
            violations.Add(new Violation(ViolationKind.Divergence, id,
                "after healing the copies differ: " + string.Join(", ", holders.Select(h => $"{h.NodeId} v{h.Sessions[id].Version} {Describe(h.Sessions[id])}")), []));
        }
        var live = final.Where(n => n.Live).ToList();
        List<NodeSnapshot> required;
        if (everyNodeHolds)
            required = live;
        else if (live.Any(n => n.MustHold.GetValueOrDefault(id) is not null))
            required = [.. live.Where(n => n.MustHold.GetValueOrDefault(id) == true)];
        else
            required = [];
        var lacking = required.Where(n => !n.Sessions.ContainsKey(id)).ToList();
        if (lacking.Count > 0)
            violations.Add(new Violation(ViolationKind.Divergence, id, $"after healing {Names(lacking)} must hold the session but do not (held by {Names(holders)})", []));
        else if (required.Count == 0 && holders.Count < Math.Min(copies, live.Count))
            violations.Add(new Violation(ViolationKind.Divergence, id, $"after healing only {Names(holders)} hold the session; {Math.Min(copies, live.Count)} copies expected", []));
    }

    /// <summary>The newest copy among the holders (when they differ, the divergence is reported on its own).</summary>
    private static SessionState? FinalState(List<NodeSnapshot> holders, string id) =>
        holders.Select(h => h.Sessions[id]).MaxBy(state => state.Version);

    private static bool Same(SessionState a, SessionState b)
    {
        if (a.Version != b.Version || a.Attributes.Count != b.Attributes.Count)
            return false;
        foreach (var (key, value) in a.Attributes)
        {
            if (!b.Attributes.TryGetValue(key, out var other) || !value.AsSpan().SequenceEqual(other))
                return false;
        }
        return true;
    }

    private static string Describe(SessionState state)
    {
        if (state.Attributes.TryGetValue(CountKey, out var c) && c.Length == 4)
            return "count " + System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(c).ToString(CultureInfo.InvariantCulture);
        return $"{WriteKeys(state.Attributes).Count()} write keys";
    }

    internal static IEnumerable<int> WriteKeys(IReadOnlyDictionary<string, byte[]> attributes)
    {
        foreach (var key in attributes.Keys)
        {
            if (key.StartsWith(WriteKeyPrefix, StringComparison.Ordinal) && int.TryParse(key.AsSpan(WriteKeyPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
                yield return id;
        }
    }

    private static string Names(IEnumerable<NodeSnapshot> nodes) => string.Join(",", nodes.Select(n => n.NodeId));

    private static string S(TimeSpan? t) => t is { } v ? v.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture) + "s" : "?";

    /// <summary>The steps of one session, sorted into what the checks need.</summary>
    private sealed class SessionFacts
    {
        public SessionFacts(string id, List<OpRecord> steps, LockingMode locking)
        {
            Id = id;
            Steps = steps;
            Create = steps.FirstOrDefault(o => o.Kind == OpKind.Create);
            Writes = [.. steps.Where(o => locking == LockingMode.Pessimistic
                ? o.Kind is OpKind.Create or OpKind.Increment or OpKind.Oversize or OpKind.Probe
                : o.Kind is OpKind.Create or OpKind.Write or OpKind.Probe)];
            Removals = [.. steps.Where(o => o.Kind == OpKind.Invalidate)];
            FirstAckedRemoval = Removals.Where(r => r.Outcome == OpOutcome.Ok).MinBy(r => r.Completed);
            // Created for sure, and no removal that may have happened.
            MustExist = Create is { Outcome: OpOutcome.Ok } && !Removals.Any(r => r.Outcome is OpOutcome.Ok or OpOutcome.Ambiguous or OpOutcome.Pending);
        }

        public string Id { get; }

        public List<OpRecord> Steps { get; }

        public OpRecord? Create { get; }

        public List<OpRecord> Writes { get; }

        public List<OpRecord> Removals { get; }

        public OpRecord? FirstAckedRemoval { get; }

        public bool MustExist { get; }
    }
}
