using System.Buffers.Binary;
using Multicast.Nemesis.Checking;
using Multicast.Nemesis.History;
using Multicast.Nemesis.Schedules;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.Tests.Tools.Nemesis;

/// <summary>The checker against hand-written histories: one that keeps every guarantee, and one per violation.</summary>
public sealed class HistoryCheckerTests
{
    private const string Id = "s1";
    private readonly List<OpRecord> _ops = [];

    [SetUp]
    public void NewHistory() => _ops.Clear();

    private static HistoryChecker Replicated => new(LockingMode.Pessimistic, everyNodeHolds: true);

    private OpRecord Op(OpKind kind, double invoked, double completed, OpOutcome outcome = OpOutcome.Ok, int? wrote = null, int? read = null, int? marker = null,
        long? token = null, double? found = null, double? commit = null, string? error = null, bool typed = false, string id = Id)
    {
        var op = new OpRecord
        {
            Id = _ops.Count + 1,
            Client = 0,
            Kind = kind,
            Slot = 0,
            SessionId = id,
            Node = 0,
            Invoked = TimeSpan.FromSeconds(invoked),
            Completed = TimeSpan.FromSeconds(completed),
            Found = TimeSpan.FromSeconds(found ?? invoked),
            CommitStarted = commit is { } c ? TimeSpan.FromSeconds(c) : null,
            Outcome = outcome,
            WrittenCount = wrote,
            ReadCount = read,
            ReadMarker = marker,
            ReadVersion = outcome is OpOutcome.NotFound || (kind == OpKind.Create) ? null : read ?? 0,
            Token = token,
            Error = error,
            TypedError = typed,
        };
        _ops.Add(op);
        return op;
    }

    /// <summary>A created session (op #1, count 1, token 1) incremented to 2 (op #2, token 2) and read back (op #3).</summary>
    private void CleanHistory()
    {
        Op(OpKind.Create, 0.0, 0.1, wrote: 1, token: 1, commit: 0.05);
        Op(OpKind.Increment, 0.2, 0.3, wrote: 2, read: 1, marker: 1, token: 2, found: 0.21, commit: 0.25);
        Op(OpKind.Read, 0.4, 0.41, read: 2, marker: 2);
    }

    private static SessionState State(long version, int count, int marker, string id = Id)
    {
        var c = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(c, count);
        var m = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(m, marker);
        return new SessionState { Id = id, Version = version, Attributes = new Dictionary<string, byte[]> { ["count"] = c, ["op"] = m } };
    }

    private static NodeSnapshot Node(string name, SessionState? state, bool? mustHold = null, bool live = true) =>
        new(name, live, ClusterStoreStatus.Ready, 3,
            state is null ? new Dictionary<string, SessionState>() : new Dictionary<string, SessionState> { [state.Id] = state },
            new Dictionary<string, bool?> { [Id] = mustHold });

    private static NodeSnapshot[] Everywhere(SessionState? state) => [Node("node1", state), Node("node2", state), Node("node3", state)];

    private IReadOnlyList<Violation> Check(IReadOnlyList<NodeSnapshot> final, HistoryChecker? sut = null, bool settled = true) =>
        (sut ?? Replicated).Check(_ops, final, settled);

    private static ViolationKind[] Kinds(IReadOnlyList<Violation> violations) => [.. violations.Select(v => v.Kind).Distinct()];

    [Test]
    public void Check_HistoryThatKeepsEveryGuarantee_FindsNothing()
    {
        CleanHistory();

        var violations = Check(Everywhere(State(2, 2, 2)));

        Assert.That(violations, Is.Empty);
    }

    [Test]
    public void Check_FinalBelowTheAcknowledgedIncrements_IsALostUpdate()
    {
        CleanHistory();

        var violations = Check(Everywhere(State(1, 1, 1)));

        Assert.That(Kinds(violations), Does.Contain(ViolationKind.LostUpdate));
        Assert.That(violations.First(v => v.Kind == ViolationKind.LostUpdate).Message, Does.Contain("final count 1"));
    }

    [Test]
    public void Check_TwoAcknowledgedIncrementsWithTheSameAnswer_IsALostUpdate()
    {
        Op(OpKind.Create, 0.0, 0.1, wrote: 1, token: 1);
        Op(OpKind.Increment, 0.2, 0.3, wrote: 2, read: 1, marker: 1, token: 2);
        Op(OpKind.Increment, 0.2, 0.3, wrote: 2, read: 1, marker: 1, token: 3);

        var violations = Check(Everywhere(State(2, 2, 3)));

        Assert.That(violations.Where(v => v.Kind == ViolationKind.LostUpdate).SelectMany(v => v.Ops), Is.SupersetOf(new[] { 2, 3 }));
    }

    [Test]
    public void Check_ReadBelowAValueAcknowledgedBeforeItWasSent_IsALostUpdate()
    {
        CleanHistory();
        Op(OpKind.Read, 0.5, 0.51, read: 1, marker: 1);

        var violations = Check(Everywhere(State(2, 2, 2)));

        Assert.That(violations.Single().Kind, Is.EqualTo(ViolationKind.LostUpdate));
        Assert.That(violations.Single().Ops, Is.EqualTo(new[] { 2, 4 }));
    }

    [Test]
    public void Check_ReadConcurrentWithTheWrite_MaySeeEitherValue()
    {
        CleanHistory();
        Op(OpKind.Read, 0.22, 0.23, read: 1, marker: 1); // sent before #2 was acknowledged

        Assert.That(Check(Everywhere(State(2, 2, 2))), Is.Empty);
    }

    [Test]
    public void Check_ARefusedWriteSeenLater_WasAppliedAfterAll()
    {
        CleanHistory();
        Op(OpKind.Increment, 0.5, 0.6, OpOutcome.NotApplied, wrote: 3, read: 2, marker: 2, token: 3, error: "LockLostException", typed: true);
        Op(OpKind.Read, 0.7, 0.71, read: 3, marker: 4);

        var violations = Check(Everywhere(State(3, 3, 4)));

        Assert.That(Kinds(violations), Is.EquivalentTo(new[] { ViolationKind.RefusedButApplied }));
    }

    [Test]
    public void Check_FinalAboveAcknowledgedPlusAmbiguous_WithARefusedWrite_WasAppliedAfterAll()
    {
        CleanHistory();
        Op(OpKind.Increment, 0.5, 0.6, OpOutcome.NotApplied, wrote: 3, read: 2, marker: 2, error: "ClusterUnavailableException", typed: true);

        var violations = Check(Everywhere(State(3, 3, 2)));

        Assert.That(Kinds(violations), Does.Contain(ViolationKind.RefusedButApplied));
    }

    [Test]
    public void Check_AnAmbiguousWriteThatWasApplied_IsAllowed()
    {
        CleanHistory();
        Op(OpKind.Increment, 0.5, 0.6, OpOutcome.Ambiguous, wrote: 3, read: 2, marker: 2, token: 3, error: "ObjectDisposedException").NodeDied = true;

        Assert.That(Check(Everywhere(State(3, 3, 4))), Is.Empty);
    }

    [Test]
    public void Check_CommitUnderATokenOlderThanALaterGrant_IsAFencingViolation()
    {
        Op(OpKind.Create, 0.0, 0.1, wrote: 1, token: 1);
        // #2 holds token 2 and commits at 0.5, after #3 was granted token 3 at 0.4.
        Op(OpKind.Increment, 0.2, 0.6, wrote: 2, read: 1, marker: 1, token: 2, found: 0.21, commit: 0.5);
        Op(OpKind.Increment, 0.3, 0.7, wrote: 3, read: 2, marker: 2, token: 3, found: 0.4, commit: 0.65);

        var violations = Check(Everywhere(State(3, 3, 3)));

        Assert.That(violations.Single().Kind, Is.EqualTo(ViolationKind.Fencing));
        Assert.That(violations.Single().Ops, Is.EquivalentTo(new[] { 2, 3 }));
    }

    [Test]
    public void Check_TokensNotIncreasingWithCommits_IsAFencingViolation()
    {
        Op(OpKind.Create, 0.0, 0.1, wrote: 1, token: 5);
        Op(OpKind.Increment, 0.2, 0.3, wrote: 2, read: 1, marker: 1, token: 4, commit: 0.25);

        var violations = Check(Everywhere(State(2, 2, 2)));

        Assert.That(Kinds(violations), Is.EqualTo(new[] { ViolationKind.Fencing }));
        Assert.That(violations.First().Message, Does.Contain("not above the token 5"));
    }

    [Test]
    public void Check_CopiesThatDifferAfterHealing_AreADivergence()
    {
        CleanHistory();

        var violations = Check([Node("node1", State(2, 2, 2)), Node("node2", State(2, 2, 2)), Node("node3", State(1, 1, 1))]);

        Assert.That(Kinds(violations), Does.Contain(ViolationKind.Divergence));
    }

    [Test]
    public void Check_RingHolderThePlacementRequiresLacksIt_IsADivergence()
    {
        CleanHistory();
        var ring = new HistoryChecker(LockingMode.Pessimistic, everyNodeHolds: false);

        var fine = ring.Check(_ops, [Node("node1", State(2, 2, 2), true), Node("node2", State(2, 2, 2), true), Node("node3", null, false)], true);
        var lacking = ring.Check(_ops, [Node("node1", State(2, 2, 2), true), Node("node2", null, true), Node("node3", null, false)], true);

        Assert.That(fine, Is.Empty);
        Assert.That(lacking.Single().Kind, Is.EqualTo(ViolationKind.Divergence));
        Assert.That(lacking.Single().Message, Does.Contain("node2 must hold"));
    }

    [Test]
    public void Check_NotFoundAfterCreationWithoutARemoval_IsALostSession()
    {
        CleanHistory();
        Op(OpKind.Read, 0.5, 0.51, OpOutcome.NotFound);

        var violations = Check(Everywhere(State(2, 2, 2)));

        Assert.That(violations.Single().Kind, Is.EqualTo(ViolationKind.LostSession));
    }

    [Test]
    public void Check_SessionHeldByNobodyAfterHealing_IsALostSession()
    {
        CleanHistory();

        var violations = Check(Everywhere(null));

        Assert.That(violations.Single().Kind, Is.EqualTo(ViolationKind.LostSession));
    }

    [Test]
    public void Check_FoundAfterAnAcknowledgedRemoval_IsAResurrection()
    {
        CleanHistory();
        Op(OpKind.Invalidate, 0.5, 0.6, token: 3, read: 2, marker: 2, commit: 0.55);
        Op(OpKind.Read, 0.7, 0.71, read: 2, marker: 2);

        var violations = Check(Everywhere(null));

        Assert.That(violations.Single().Kind, Is.EqualTo(ViolationKind.Resurrection));
        Assert.That(violations.Single().Ops, Is.EqualTo(new[] { 4, 5 }));
    }

    [Test]
    public void Check_RemovedSessionHeldAfterHealing_IsAResurrection()
    {
        CleanHistory();
        Op(OpKind.Invalidate, 0.5, 0.6, token: 3, read: 2, marker: 2, commit: 0.55);

        var violations = Check([Node("node1", State(2, 2, 2)), Node("node2", null), Node("node3", null)]);

        Assert.That(violations.Single().Kind, Is.EqualTo(ViolationKind.Resurrection));
    }

    [Test]
    public void Check_UntypedExceptionFromALiveNode_IsReported_ButNotWhenTheNodeDied()
    {
        CleanHistory();
        Op(OpKind.Increment, 0.5, 0.6, OpOutcome.Ambiguous, wrote: 3, read: 2, marker: 2, error: "TimeoutException: not confirmed");
        Op(OpKind.Increment, 0.5, 0.6, OpOutcome.Ambiguous, wrote: 3, read: 2, marker: 2, error: "ObjectDisposedException").NodeDied = true;

        var violations = Check(Everywhere(State(3, 3, 4)));

        Assert.That(violations.Single().Kind, Is.EqualTo(ViolationKind.UntypedFailure));
        Assert.That(violations.Single().Ops, Is.EqualTo(new[] { 4 }));
    }

    [Test]
    public void Check_StepWithoutAnAnswer_IsHung()
    {
        CleanHistory();
        var hung = Op(OpKind.Increment, 0.5, 0.6, OpOutcome.Ambiguous, wrote: 3, read: 2, marker: 2, error: "no answer");
        hung.Hung = true;

        var violations = Check(Everywhere(State(2, 2, 2)));

        Assert.That(violations.Single().Kind, Is.EqualTo(ViolationKind.Hung));
    }

    [Test]
    public void Check_ClusterThatDidNotSettleOrAProbeThatFailed_IsNotLive()
    {
        CleanHistory();
        Op(OpKind.Probe, 0.9, 1.0, OpOutcome.NotApplied, wrote: 3, read: 2, marker: 2, error: "ClusterUnavailableException", typed: true);

        var violations = Check(Everywhere(State(2, 2, 2)), settled: false);

        Assert.That(violations.Select(v => v.Kind), Is.EqualTo(new[] { ViolationKind.NotLive, ViolationKind.NotLive }));
    }

    [Test]
    public void Check_LockingNone_AcknowledgedWriteMissingOrRefusedWriteKept_AreReported()
    {
        var sut = new HistoryChecker(LockingMode.None, everyNodeHolds: true);
        Op(OpKind.Create, 0.0, 0.1);
        Op(OpKind.Write, 0.2, 0.3);
        Op(OpKind.Write, 0.2, 0.3, OpOutcome.NotApplied, error: "ClusterUnavailableException", typed: true);
        _ops.Add(new OpRecord { Id = 4, Client = 0, Kind = OpKind.Read, Slot = 0, SessionId = Id, Node = 0, Invoked = TimeSpan.FromSeconds(0.5), Found = TimeSpan.FromSeconds(0.5),
            Completed = TimeSpan.FromSeconds(0.5), Outcome = OpOutcome.Ok, ReadVersion = 2, ReadKeys = [1, 3] });
        var state = new SessionState { Id = Id, Version = 3, Attributes = new Dictionary<string, byte[]> { ["w1"] = [1], ["w3"] = [1] } };

        var violations = sut.Check(_ops, Everywhere(state), true);

        Assert.That(violations.Where(v => v.Kind == ViolationKind.LostUpdate).SelectMany(v => v.Ops), Does.Contain(2), "acknowledged #2 is missing");
        Assert.That(violations.Where(v => v.Kind == ViolationKind.RefusedButApplied).SelectMany(v => v.Ops), Does.Contain(3), "refused #3 was applied");
    }

    [Test]
    public void Convergence_WithoutAHistory_ComparesWhateverIsHeld()
    {
        var sut = Replicated;

        Assert.That(sut.Convergence(Everywhere(State(2, 2, 2))), Is.Empty);
        Assert.That(sut.Convergence([Node("node1", State(2, 2, 2)), Node("node2", null), Node("node3", State(2, 2, 2))]).Single().Kind, Is.EqualTo(ViolationKind.Divergence));
        Assert.That(sut.Convergence(Everywhere(null)), Is.Empty, "a session nobody holds is not compared");
    }
}
