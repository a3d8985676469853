using Multicast.Nemesis.Checking;
using Multicast.Nemesis.Cluster;
using Multicast.Nemesis.History;
using Multicast.Nemesis.Schedules;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.Nemesis.Running;

/// <summary>
/// The clients of a schedule: each runs its plan, paced evenly over the load, against the node its step names (or the
/// next one up, like a load balancer skipping a dead backend), through the public <see cref="SessionManager"/> API as a
/// host's request pipeline does, and records every step in the history.
/// </summary>
internal sealed class Workload(Schedule schedule, NemesisCluster cluster, OperationHistory history)
{
    private readonly string?[] _slots = new string?[schedule.Slots];
    private readonly object _slotsLock = new();

    /// <summary>Creates one session per slot before the load starts (each on a different node).</summary>
    public async Task SetupAsync(CancellationToken cancellationToken)
    {
        for (var slot = 0; slot < _slots.Length; slot++)
            await StepAsync(-1, new PlannedOp(OpKind.Create, slot, slot % schedule.Nodes), cancellationToken);
    }

    /// <summary>Runs every client's plan from <paramref name="loadStart"/> (history time) until its end or the load's.</summary>
    public Task RunAsync(TimeSpan loadStart, CancellationToken cancellationToken) =>
        Task.WhenAll(schedule.Clients.Select((plan, client) => Task.Run(() => ClientAsync(client, plan, loadStart, cancellationToken), cancellationToken)));

    /// <summary>After healing: one write per session a slot holds that no removal may have touched, which must succeed.</summary>
    public async Task ProbeAsync(CancellationToken cancellationToken)
    {
        var removed = history.Snapshot().Where(o => o.Kind == OpKind.Invalidate && o.Outcome is not (OpOutcome.NotApplied or OpOutcome.NotFound))
            .Select(o => o.SessionId).ToHashSet(StringComparer.Ordinal);
        for (var slot = 0; slot < _slots.Length; slot++)
        {
            if (Slot(slot) is not { } id || removed.Contains(id))
                continue;
            // A typed refusal (a view change at that moment) or an in-doubt answer (the one ambiguous answer the contract
            // allows) is retried on the next node; any other answer, or refusals every time, is for the checker to judge.
            for (var attempt = 0; attempt < ProbeAttempts; attempt++)
            {
                var op = await StepAsync(-1, new PlannedOp(OpKind.Probe, slot, (slot + attempt) % schedule.Nodes), cancellationToken);
                var inDoubt = op is { Outcome: OpOutcome.Ambiguous } && op.Error?.StartsWith(nameof(CommitInDoubtException), StringComparison.Ordinal) == true;
                if (op is null || (op.Outcome != OpOutcome.NotApplied && !inDoubt))
                    break;
            }
        }
    }

    /// <summary>How often a probe is sent when the store refuses it.</summary>
    public const int ProbeAttempts = 5;

    /// <summary>The session ids the slots hold now.</summary>
    public IReadOnlyList<string> LiveSlots()
    {
        lock (_slotsLock)
            return [.. _slots.OfType<string>()];
    }

    private string? Slot(int slot)
    {
        lock (_slotsLock)
            return _slots[slot];
    }

    private async Task ClientAsync(int client, IReadOnlyList<PlannedOp> plan, TimeSpan loadStart, CancellationToken cancellationToken)
    {
        var interval = schedule.Timings.Load / plan.Count;
        for (var k = 0; k < plan.Count; k++)
        {
            var due = loadStart + interval * k;
            var wait = due - history.Now;
            if (wait > TimeSpan.Zero)
                await Task.Delay(wait, cancellationToken); // pacing of a load generator, not a wait for a condition
            if (history.Now > loadStart + schedule.Timings.Load)
                return;
            await StepAsync(client, plan[k], cancellationToken);
        }
    }

    private NemesisNode? Pick(int preferred)
    {
        for (var i = 0; i < schedule.Nodes; i++)
        {
            var node = cluster.Nodes[(preferred + i) % schedule.Nodes];
            if (node.State == NodeState.Up)
                return node;
        }
        return null;
    }

    private async Task<OpRecord?> StepAsync(int client, PlannedOp step, CancellationToken cancellationToken)
    {
        var id = step.Kind == OpKind.Create ? null : Slot(step.Slot);
        if (step.Kind != OpKind.Create && id is null)
            return null;
        if (Pick(step.Node) is not { } node)
            return null;
        var generation = node.Generation;
        var op = history.Begin(client, step.Kind, step.Slot, id, node.Index);
        op.Incarnation = generation;
        var body = ExecuteAsync(op, node, generation, cancellationToken);
        try
        {
            await body.WaitAsync(schedule.Timings.OpTimeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            lock (op)
            {
                op.Hung = true;
                op.Outcome = OpOutcome.Ambiguous;
                op.Error = $"no answer within {schedule.Timings.OpTimeout.TotalSeconds:0} s";
            }
        }
        catch (OperationCanceledException)
        {
            Complete(op, OpOutcome.Ambiguous, "the harness stopped waiting", typed: true);
        }
        if (node.Generation != generation)
            op.NodeDied = true;
        if (step.Kind == OpKind.Create && op.Outcome == OpOutcome.Ok)
        {
            lock (_slotsLock)
                _slots[step.Slot] = op.SessionId;
        }
        return op;
    }

    private async Task ExecuteAsync(OpRecord op, NemesisNode node, int generation, CancellationToken cancellationToken)
    {
        // A request sent to a frozen process waits until it runs again.
        await node.Running.WaitAsync(cancellationToken);
        var manager = node.Manager;
        if (manager is null || node.Generation != generation)
        {
            Complete(op, OpOutcome.NotApplied, "the node went down before the request reached it", typed: true, reached: false);
            return;
        }
        Session? session = null;
        try
        {
            switch (op.Kind)
            {
                case OpKind.Create:
                    session = await manager.CreateAsync(cancellationToken);
                    op.SessionId = session.Id;
                    Found(op, session);
                    Write(op, session);
                    await CommitAsync(op, manager, session, cancellationToken);
                    break;
                case OpKind.Read:
                    session = await manager.BeginRequestAsync(op.SessionId, SessionAccess.ReadOnly, cancellationToken);
                    if (Found(op, session))
                        Complete(op, OpOutcome.Ok);
                    session = null;
                    break;
                case OpKind.Invalidate:
                    session = await manager.BeginRequestAsync(op.SessionId, SessionAccess.Exclusive, cancellationToken);
                    if (!Found(op, session))
                        break;
                    op.CommitStarted = history.Now;
                    await manager.InvalidateAsync(session!, cancellationToken);
                    session = null;
                    Complete(op, OpOutcome.Ok);
                    break;
                default:
                    session = await manager.BeginRequestAsync(op.SessionId, SessionAccess.Exclusive, cancellationToken);
                    if (!Found(op, session))
                        break;
                    Write(op, session!);
                    await CommitAsync(op, manager, session!, cancellationToken);
                    break;
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A typed refusal changed nothing; CommitInDoubtException is the contract's one ambiguous answer (the
            // arbiter changed mid-commit): maybe applied, but not a failure of the contract; anything else is.
            var refused = ex is ClusterUnavailableException or SessionLockedException or LockLostException or SessionTooLargeException;
            var inDoubt = ex is CommitInDoubtException;
            Complete(op, refused ? OpOutcome.NotApplied : OpOutcome.Ambiguous, $"{ex.GetType().Name}: {FirstLine(ex.Message)}", refused || inDoubt);
            if (session is { IsCompleted: false })
            {
                try
                {
                    await manager.AbortRequestAsync(session, CancellationToken.None); // as the host's middleware does after a failure
                }
                catch (Exception release) when (release is not OutOfMemoryException)
                {
                    // the lease frees it
                }
            }
        }
    }

    private bool Found(OpRecord op, Session? session)
    {
        if (Died(op))
        {
            // A killed process answers nothing: what its leftovers read after the crash is no evidence.
            Complete(op, OpOutcome.Ambiguous, "the node crashed before the find answered", typed: true);
            return false;
        }
        op.Found = history.Now;
        if (session is null)
        {
            Complete(op, OpOutcome.NotFound);
            return false;
        }
        op.ReadVersion = session.Version;
        if (session.Lock is { } held)
        {
            op.Token = held.Token;
            op.Holder = held.Holder;
            op.LeaseExpires = held.ExpiresAt;
        }
        if (schedule.Locking == LockingMode.Pessimistic)
            op.ReadCount = session.GetInt32(HistoryChecker.CountKey);
        else
            op.ReadKeys = [.. HistoryChecker.WriteKeys(session.State.Attributes)];
        op.ReadMarker = session.GetInt32(HistoryChecker.MarkerKey);
        return true;
    }

    private void Write(OpRecord op, Session session)
    {
        if (schedule.Locking == LockingMode.Pessimistic)
        {
            var next = (session.GetInt32(HistoryChecker.CountKey) ?? 0) + 1;
            session.SetInt32(HistoryChecker.CountKey, next);
            op.WrittenCount = next;
            if (op.Kind == OpKind.Oversize)
                session.Set("big", new byte[schedule.Timings.MaxSessionBytes * 2]);
        }
        else
        {
            session.Set(HistoryChecker.WriteKeyPrefix + op.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), [1]);
        }
        session.SetInt32(HistoryChecker.MarkerKey, op.Id);
    }

    private async Task CommitAsync(OpRecord op, SessionManager manager, Session session, CancellationToken cancellationToken)
    {
        op.CommitStarted = history.Now;
        await manager.EndRequestAsync(session, cancellationToken);
        op.CommittedVersion = session.State.Version;
        Complete(op, OpOutcome.Ok);
    }

    /// <summary>The node the step was sent to crashed (or finished a restart) since: an answer now never reaches the client.</summary>
    private bool Died(OpRecord op) => cluster.Nodes[op.Node].Generation != op.Incarnation;

    private void Complete(OpRecord op, OpOutcome outcome, string? error = null, bool typed = false, bool reached = true)
    {
        if (reached && outcome != OpOutcome.Ambiguous && Died(op))
        {
            // The in-process store goes on answering while it is disposed (say "leaving", or even "done"); a SIGKILLed
            // host would have answered nothing, so the outcome is unknown.
            error = $"answered {outcome}{(error is null ? string.Empty : ": " + error)} after the node crashed (never delivered)";
            (outcome, typed) = (OpOutcome.Ambiguous, true);
        }
        lock (op)
        {
            if (op.Hung || op.Outcome != OpOutcome.Pending)
                return; // the client gave up on it already: it stays ambiguous
            op.Completed = history.Now;
            op.Outcome = outcome;
            op.Error = error;
            op.TypedError = typed;
        }
    }

    private static string FirstLine(string text)
    {
        var line = text.Split('\n')[0].Trim();
        return line.Length <= 160 ? line : line[..160] + "…";
    }
}
