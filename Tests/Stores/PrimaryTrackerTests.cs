using Multicast.Messaging;
using Multicast.Stores;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

/// <summary>The primary-partition decision every member of a view makes from the same facts.</summary>
public sealed class PrimaryTrackerTests
{
    private static MembershipView View(long id, params string[] nodes) =>
        new(id, [.. nodes.Select(n => new Member(n, 1, $"mem://{n}", string.Empty))]);

    /// <summary>Runs one view's exchange among trackers (one per member) and returns each member's decision; fresh
    /// members catch up unless <paramref name="catchUp"/> is false.</summary>
    private static Dictionary<string, PrimaryDecision> Decide(MembershipView view, Dictionary<string, PrimaryTracker> trackers, bool catchUp = true)
    {
        var states = new Dictionary<string, PrimaryState>();
        var decisions = new Dictionary<string, PrimaryDecision>();
        foreach (var m in view.Members)
        {
            var (own, decided) = trackers[m.NodeId].BeginView(view);
            states[m.NodeId] = own;
            if (decided is not null)
                decisions[m.NodeId] = decided;
        }
        foreach (var m in view.Members)
        {
            foreach (var (from, state) in states)
            {
                if (from != m.NodeId && trackers[m.NodeId].Receive(from, state) is { } decided)
                    decisions[m.NodeId] = decided;
            }
        }
        if (catchUp)
        {
            foreach (var (node, decision) in decisions)
                trackers[node].CaughtUp(decision.Epoch);
        }
        return decisions;
    }

    private static Dictionary<string, PrimaryTracker> Trackers(int quorum = 0, params string[] nodes) =>
        nodes.ToDictionary(n => n, n => new PrimaryTracker(n, quorum));

    private static Dictionary<string, PrimaryTracker> TrackersWithConcern(int writeConcern, params string[] nodes) =>
        nodes.ToDictionary(n => n, n => new PrimaryTracker(n, 0, writeConcern));

    [Test]
    public void FirstNode_Alone_IsPrimaryInEpochOne()
    {
        var trackers = Trackers(0, "a");

        var decision = Decide(View(1, "a"), trackers)["a"];

        Assert.That((decision.IsPrimary, decision.Epoch), Is.EqualTo((true, 1L)));
        Assert.That(decision.Fresh, Is.Empty);
    }

    [Test]
    public void Joiners_ToAPrimary_ArePrimaryAndTheJoinerIsFresh()
    {
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(1, "a"), trackers);

        var decisions = Decide(View(2, "a", "b"), trackers);

        Assert.That(decisions.Values.All(d => d.IsPrimary && d.Epoch == 2), Is.True);
        Assert.That(decisions["a"].Fresh, Is.EquivalentTo(new[] { "b" }));
        Assert.That(Decide(View(3, "a", "b", "c"), trackers)["c"].Fresh, Is.EquivalentTo(new[] { "c" }));
    }

    [Test]
    public void MemberThatHadNotCaughtUpWhenTheViewChanged_IsStillFreshInTheNext()
    {
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(1, "a", "b"), trackers);
        Decide(View(2, "a", "b", "c"), trackers, catchUp: false); // c decided epoch 3 but never caught up

        var next = Decide(View(3, "a", "b", "c"), trackers);

        Assert.That(next["a"].Fresh, Is.EquivalentTo(new[] { "c" }), "it must not arbitrate what it never received");
    }

    [Test]
    public void Partition_MajoritySideIsPrimary_MinoritySideIsNot()
    {
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(1, "a"), trackers);
        Decide(View(2, "a", "b"), trackers);
        Decide(View(3, "a", "b", "c"), trackers);

        var majority = Decide(View(4, "a", "b"), trackers);
        var minority = Decide(View(4, "c"), trackers);

        Assert.That(majority.Values.All(d => d.IsPrimary), Is.True);
        Assert.That(minority["c"].IsPrimary, Is.False);
        Assert.That((minority["c"].Present, minority["c"].Basis), Is.EqualTo((1, 3)));
    }

    [Test]
    public void Heal_TheMinorityMemberIsFreshInTheMergedPrimary()
    {
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(1, "a"), trackers);
        Decide(View(2, "a", "b", "c"), trackers);
        Decide(View(3, "a", "b"), trackers);
        Decide(View(3, "c"), trackers);

        var merged = Decide(View(5, "a", "b", "c"), trackers);

        Assert.That(merged.Values.All(d => d.IsPrimary), Is.True);
        Assert.That(merged["a"].Fresh, Is.EquivalentTo(new[] { "c" }), "it arbitrated nothing while cut off: it catches up");
        Assert.That(merged.Values.Select(d => d.Epoch).Distinct().Single(), Is.EqualTo(5L), "the merged view's id, above the previous epoch");
    }

    [Test]
    public void MemberExcludedWhileTheOthersWentOnInTheSamePrimary_IsFreshUntilItCatchesUp()
    {
        // c was removed (it paused) and let back in without a primary in between: its last epoch is everyone's, but
        // commits of that epoch went on without it.
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(3, "a", "b", "c"), trackers);
        trackers["c"].Behind = true;

        var back = Decide(View(6, "a", "b", "c"), trackers);
        var next = Decide(View(7, "a", "b", "c"), trackers);

        Assert.That(back.Values.All(d => d.Fresh.SetEquals(["c"])), Is.True);
        Assert.That(trackers["c"].Behind, Is.False, "caught up");
        Assert.That(next["a"].Fresh, Is.Empty);
    }

    [Test]
    public void MemberThatDecidedAViewItsPeerMovedPast_IsFreshWhenTheyMeetAgain()
    {
        // c decides view 4 {b, c} from b's state (c was paused; b moved to views 5 and 6 without deciding view 4), while
        // a and b form a primary in view 6. Both primaries follow epoch 3: their epochs must differ, and the later view's
        // must win, or c's stale copies would be taken as the newest.
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(3, "a", "b", "c"), trackers);
        var view4 = View(4, "b", "c");
        var (bState, _) = trackers["b"].BeginView(view4);
        trackers["c"].BeginView(view4);
        var lone = trackers["c"].Receive("b", bState)!;
        trackers["c"].CaughtUp(lone.Epoch);
        var real = Decide(View(6, "a", "b"), trackers);

        var merged = Decide(View(7, "a", "b", "c"), trackers);

        Assert.That(lone.IsPrimary, Is.True, "c's own view is a majority of the last primary it knows");
        Assert.That(lone.Epoch, Is.Not.EqualTo(real["a"].Epoch));
        Assert.That(merged["a"].Previous.Epoch, Is.EqualTo(real["a"].Epoch));
        Assert.That(merged.Values.All(d => d.Fresh.SetEquals(["c"])), Is.True, "c arbitrated nothing a and b know of");
    }

    [Test]
    public void TwoNodes_OneCrashes_TheSurvivorHasNoQuorum()
    {
        var trackers = Trackers(0, "a", "b");
        Decide(View(1, "a"), trackers);
        Decide(View(2, "a", "b"), trackers);

        Assert.That(Decide(View(3, "a"), trackers)["a"].IsPrimary, Is.False);
    }

    [Test]
    public void TwoNodes_OneLeavesGracefully_TheSurvivorStaysPrimary()
    {
        var trackers = Trackers(0, "a", "b");
        Decide(View(1, "a"), trackers);
        Decide(View(2, "a", "b"), trackers);
        trackers["b"].Leaving = true;
        // b's leave announcement reaches a before the view without b.
        trackers["a"].Receive("b", new PrimaryState { ViewId = 2, Leaving = true });

        Assert.That(Decide(View(3, "a"), trackers)["a"].IsPrimary, Is.True, "a graceful leave costs no availability");
    }

    [Test]
    public void ConfiguredQuorumOfOne_ALoneNodeIsPrimary()
    {
        var trackers = Trackers(1, "a", "b");
        Decide(View(1, "a"), trackers);
        Decide(View(2, "a", "b"), trackers);

        Assert.That(Decide(View(3, "a"), trackers)["a"].IsPrimary, Is.True);
    }

    [Test]
    public void MemberThatTookPartInALaterPrimary_KeepsAStaleMajorityFromForming()
    {
        // b and c formed primary {b, c} (epoch 3) without a; then c is cut off. a and b meet again:
        // b carries epoch 3 into the decision, of which {a, b} holds one of two members: not a majority.
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(1, "a"), trackers);
        Decide(View(2, "a", "b", "c"), trackers);
        Decide(View(3, "b", "c"), trackers);
        Decide(View(3, "a"), trackers);

        var decisions = Decide(View(4, "a", "b"), trackers);

        Assert.That(decisions.Values.Any(d => d.IsPrimary), Is.False);
    }

    [Test]
    public void StatesThatArriveBeforeTheView_AreUsedWhenItIsInstalled()
    {
        var a = new PrimaryTracker("a", 0);
        var b = new PrimaryTracker("b", 0);
        var view = View(1, "a", "b");
        var (fromB, _) = b.BeginView(view);

        Assert.That(a.Receive("b", fromB), Is.Null, "a has not installed the view yet");
        var (_, decided) = a.BeginView(view);

        Assert.That(decided, Is.Not.Null);
        Assert.That(decided!.IsPrimary, Is.True);
    }

    [Test]
    public void StateForAnotherViewOfTheSameId_IsNotMixedIn()
    {
        var a = new PrimaryTracker("a", 0);
        a.BeginView(View(4, "a", "b"));

        var decided = a.Receive("b", new PrimaryState { ViewId = 4, ViewHash = 12345 });

        Assert.That(decided, Is.Null);
        Assert.That(a.Decision, Is.Null);
    }

    [Test]
    public void ArbiterOfAPastPrimary_IsTheActingOwnerAmongItsMembers()
    {
        var view = View(1, "a", "b", "c");
        var record = new PrimaryRecord(1, [.. view.Members.Select(m => m.NodeId)], [.. view.Members.Select(m => m.RingIndex)], []);
        for (var i = 0; i < 200; i++)
        {
            var id = Multicast.Sessions.SessionIds.New(i * 331 % 65536);
            Assert.That(record.ArbiterOf(id), Is.EqualTo(ReplicationStrategy.ArbiterOf(id, view)!.NodeId), id);
        }
    }

    [Test]
    public void ArbiterOfAPastPrimary_SkipsTheMembersThatWereCatchingUpInIt()
    {
        var view = View(1, "a", "b", "c");
        var catchingUp = View(1, "a", "b", "c").WithCatchingUp(new HashSet<string> { "b" });
        var record = new PrimaryRecord(1, [.. view.Members.Select(m => m.NodeId)], [.. view.Members.Select(m => m.RingIndex)], ["b"]);
        for (var i = 0; i < 200; i++)
        {
            var id = Multicast.Sessions.SessionIds.New(i * 331 % 65536);
            Assert.That(record.ArbiterOf(id), Is.EqualTo(ReplicationStrategy.ArbiterOf(id, catchingUp)!.NodeId).And.Not.EqualTo("b"), id);
        }
    }

    /// <summary>A rolling restart's join (N9): the joiner's state is not waited for, and it arbitrates nothing.</summary>
    [Test]
    public void Rejoin_TheMembersThatStayedDecideWithoutTheJoinersState_AndTheJoinerArbitratesNothing()
    {
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(1, "a", "b", "c"), trackers);
        Decide(View(2, "a", "b"), trackers); // c restarted: its new tracker knows nothing
        trackers["c"] = new PrimaryTracker("c", 0);
        var view = View(3, "a", "b", "c");

        var (ownA, _) = trackers["a"].BeginView(view);
        var (ownB, _) = trackers["b"].BeginView(view);
        var (ownC, _) = trackers["c"].BeginView(view);
        var a = trackers["a"].Receive("b", ownB);
        var c = trackers["c"].Receive("a", ownA) ?? trackers["c"].Receive("b", ownB);

        Assert.That(a, Is.Not.Null, "decided without c's state");
        Assert.That(c, Is.Not.Null, "c decides from theirs");
        Assert.That((a!.IsPrimary, a.Epoch, a.Fresh.Single()), Is.EqualTo((true, c!.Epoch, "c")));
        Assert.That(trackers["a"].Receive("c", ownC), Is.Null, "c's state changes nothing once decided");
        for (var i = 0; i < 200; i++)
        {
            var id = Multicast.Sessions.SessionIds.New(i * 331 % 65536);
            Assert.That(ReplicationStrategy.ArbiterOf(id, a.View)!.NodeId, Is.Not.EqualTo("c").And.EqualTo(ReplicationStrategy.ArbiterOf(id, View(2, "a", "b"))!.NodeId), id);
            Assert.That(ReplicationStrategy.ArbiterOf(id, c.View)!.NodeId, Is.EqualTo(ReplicationStrategy.ArbiterOf(id, a.View)!.NodeId), id);
        }
    }

    [Test]
    public void Rejoin_AfterTheJoinerCaughtUp_TheNextPrimaryHandsItsSessionsBackAndRecordsWhoArbitratedThem()
    {
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(1, "a", "b", "c"), trackers);
        Decide(View(2, "a", "b"), trackers);
        var join = Decide(View(3, "a", "b", "c"), trackers); // c caught up in it

        var next = Decide(View(4, "a", "c"), trackers)["a"]; // b leaves

        Assert.That(next.Fresh, Is.Empty);
        Assert.That(next.Previous.Passive, Is.EquivalentTo(new[] { "c" }));
        for (var i = 0; i < 200; i++)
        {
            var id = Multicast.Sessions.SessionIds.New(i * 331 % 65536);
            Assert.That(next.Previous.ArbiterOf(id), Is.EqualTo(ReplicationStrategy.ArbiterOf(id, join["a"].View)!.NodeId), id);
        }
        Assert.That(Enumerable.Range(0, 200).Any(i => ReplicationStrategy.ArbiterOf(Multicast.Sessions.SessionIds.New(i * 331 % 65536), next.View)!.NodeId == "c"), Is.True, "c arbitrates again");
    }

    [Test]
    public void Rejoin_WhenAMemberThatStayedHadNotCaughtUp_EveryStateIsWaitedFor()
    {
        var trackers = Trackers(0, "a", "b", "c", "d");
        Decide(View(1, "a", "b", "c"), trackers);
        Decide(View(2, "a", "b", "c", "d"), trackers, catchUp: false); // d never caught up: it did not take part
        trackers["e"] = new PrimaryTracker("e", 0);
        var view = View(3, "a", "b", "c", "d", "e");

        var (_, early) = trackers["a"].BeginView(view);
        var (ownB, _) = trackers["b"].BeginView(view);
        var (ownC, _) = trackers["c"].BeginView(view);
        var (ownD, _) = trackers["d"].BeginView(view);

        Assert.That(early, Is.Null);
        Assert.That(trackers["a"].Receive("b", ownB) ?? trackers["a"].Receive("c", ownC) ?? trackers["a"].Receive("d", ownD), Is.Null,
            "d, a member of the last primary that never took part in it, is no reason to skip e's state");
    }

    [Test]
    public void Rejoin_WhenTheMembersThatStayedAreNoMajorityOfTheView_EveryStateIsWaitedFor()
    {
        var trackers = Trackers(0, "a", "b", "c", "d");
        Decide(View(1, "a", "b", "c", "d"), trackers);
        foreach (var node in new[] { "a", "b" })
        {
            trackers[node].MemberLeaving("c");
            trackers[node].MemberLeaving("d");
        }
        Decide(View(2, "a", "b"), trackers); // c and d left gracefully
        trackers["c"] = new PrimaryTracker("c", 0);
        trackers["d"] = new PrimaryTracker("d", 0);
        var view = View(3, "a", "b", "c", "d"); // both join at once: a and b are half the view

        var (_, early) = trackers["a"].BeginView(view);
        var (ownB, _) = trackers["b"].BeginView(view);

        Assert.That(early, Is.Null);
        Assert.That(trackers["a"].Receive("b", ownB), Is.Null, "the joiners' states are waited for");
    }

    [Test]
    public void Rejoin_WithAConfiguredQuorum_EveryStateIsWaitedFor()
    {
        var trackers = Trackers(2, "a", "b", "c");
        Decide(View(1, "a", "b", "c"), trackers);
        Decide(View(2, "a", "b"), trackers);
        trackers["c"] = new PrimaryTracker("c", 2);
        var view = View(3, "a", "b", "c");

        trackers["a"].BeginView(view);
        var (ownB, _) = trackers["b"].BeginView(view);

        Assert.That(trackers["a"].Receive("b", ownB), Is.Null);
    }
    /// <summary>N16: two of three crash within the suspect timeout (no view in between), one comes back without its
    /// copies. The survivor and the amnesiac are two of the last primary's three by node id, but a session held by the
    /// two that crashed has its only copy on the disk of the one still down: they must wait for it, not serve without.</summary>
    [Test]
    public void TwoCrashAtOnce_TheSurvivorAndAMemberRestartedWithoutItsCopies_AreNoPrimary_UntilTheOtherIsBackWithItsDisk()
    {
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(1, "a", "b", "c"), trackers);
        var record = trackers["b"].Last;
        trackers["c"] = new PrimaryTracker("c", 0); // restarted without its disk copy

        var amnesiac = Decide(View(4, "a", "c"), trackers);

        Assert.That(amnesiac.Values.Any(d => d.IsPrimary), Is.False, "c remembers nothing of epoch 1");
        Assert.That((amnesiac["a"].Present, amnesiac["a"].Basis, amnesiac["a"].Remembering), Is.EqualTo((2, 3, 1)));

        trackers["b"] = new PrimaryTracker("b", 0);
        trackers["b"].Restore(record); // restarted with its disk copy
        var back = Decide(View(5, "a", "b", "c"), trackers);

        Assert.That(back.Values.All(d => d.IsPrimary), Is.True);
        Assert.That(back["a"].Fresh, Is.EquivalentTo(new[] { "b", "c" }), "both catch up; b's copies count in the recovery");
    }

    [Test]
    public void TwoMemberPrimary_OneRestartsWithoutItsCopies_TheOtherHoldsEveryAcknowledgedUpdate_Primary()
    {
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(1, "a", "b", "c"), trackers);
        Decide(View(2, "b", "c"), trackers); // a gone
        trackers["c"] = new PrimaryTracker("c", 0);

        var decisions = Decide(View(3, "b", "c"), trackers);

        Assert.That(decisions.Values.All(d => d.IsPrimary), Is.True, "each commit of {b, c} waited for the other: b has them all");
        Assert.That(decisions["b"].Fresh, Is.EquivalentTo(new[] { "c" }));
    }

    [Test]
    public void WriteConcernOfAll_TwoOfThreeRestartWithoutTheirCopies_TheSurvivorStraightFromThePrimaryHoldsThemAll()
    {
        var trackers = TrackersWithConcern(2, "a", "b", "c");
        Decide(View(1, "a", "b", "c"), trackers);
        trackers["b"] = new PrimaryTracker("b", 0, 2);
        trackers["c"] = new PrimaryTracker("c", 0, 2);

        var decisions = Decide(View(2, "a", "b", "c"), trackers);

        Assert.That(decisions.Values.All(d => d.IsPrimary), Is.True);

        var once = TrackersWithConcern(1, "a", "b", "c");
        Decide(View(1, "a", "b", "c"), once);
        once["b"] = new PrimaryTracker("b", 0, 1);
        once["c"] = new PrimaryTracker("c", 0, 1);
        Assert.That(Decide(View(2, "a", "b", "c"), once).Values.Any(d => d.IsPrimary), Is.False,
            "with one ack a commit may be held by b and c alone");
    }

    [Test]
    public void WriteConcernOfAll_ASurvivorThatWasCutOffSince_IsNoEvidenceThatNoLaterPrimaryFormed()
    {
        // a was alone in a view after epoch 1 (it is not straight from it): b and c may have formed a later primary and
        // acknowledged in it before they both restarted without their copies.
        var trackers = TrackersWithConcern(2, "a", "b", "c");
        Decide(View(1, "a", "b", "c"), trackers);
        Decide(View(2, "a"), trackers);
        trackers["b"] = new PrimaryTracker("b", 0, 2);
        trackers["c"] = new PrimaryTracker("c", 0, 2);

        Assert.That(Decide(View(3, "a", "b", "c"), trackers).Values.Any(d => d.IsPrimary), Is.False);
    }

    [Test]
    public void NoWriteConcern_OneCrash_TheOthersArePrimary()
    {
        var trackers = TrackersWithConcern(0, "a", "b", "c");
        Decide(View(1, "a", "b", "c"), trackers);

        Assert.That(Decide(View(2, "a", "b"), trackers).Values.All(d => d.IsPrimary), Is.True);
    }

    [Test]
    public void Join_TwoOfFiveRestartWithoutTheirCopiesBeforeTheyWereSuspected_TheThreeThatStayedDoNotDecideAlone()
    {
        // With one ack a commit of epoch 1 may be held by d and e alone: three of five do not hold them all.
        var trackers = Trackers(0, "a", "b", "c", "d", "e");
        Decide(View(1, "a", "b", "c", "d", "e"), trackers);
        trackers["d"] = new PrimaryTracker("d", 0);
        trackers["e"] = new PrimaryTracker("e", 0);
        var view = View(2, "a", "b", "c", "d", "e");

        var (_, early) = trackers["a"].BeginView(view);
        var (ownB, _) = trackers["b"].BeginView(view);
        var (ownC, _) = trackers["c"].BeginView(view);

        Assert.That(early ?? trackers["a"].Receive("b", ownB) ?? trackers["a"].Receive("c", ownC), Is.Null);
        Assert.That(Decide(view, trackers).Values.Any(d => d.IsPrimary), Is.False);
    }

    [Test]
    public void Restored_AMemberBackWithItsDiskCopy_IsFreshButCountsTowardItsPrimary()
    {
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(1, "a", "b", "c"), trackers);
        var record = trackers["c"].Last;
        trackers["b"] = new PrimaryTracker("b", 0);
        trackers["c"] = new PrimaryTracker("c", 0);
        trackers["c"].Restore(record);

        var decisions = Decide(View(2, "a", "b", "c"), trackers);

        Assert.That(decisions.Values.All(d => d.IsPrimary), Is.True);
        Assert.That(decisions["a"].Fresh, Is.EquivalentTo(new[] { "b", "c" }));
        Assert.That(trackers["c"].Behind, Is.False, "caught up");
        Assert.That(trackers["c"].Last.Epoch, Is.EqualTo(decisions["a"].Epoch));
    }
    /// <summary>N17 (Mixed seed 3100010): a took over sessions in {a, b} and the next view came before it had recovered
    /// them. In the next primary it is still their arbiter, so nothing says they must be recovered: its state does.</summary>
    [Test]
    public void ArbiterWhoseRecoveryWasCutShort_IsNamedInTheNextDecision_UntilItRecovers()
    {
        var trackers = Trackers(0, "a", "b", "c");
        Decide(View(1, "a", "b", "c"), trackers);
        trackers["a"].Recovered(trackers["a"].Last.Epoch);
        trackers["b"].Recovered(trackers["b"].Last.Epoch);
        var cut = Decide(View(2, "a", "b"), trackers); // neither recovers in it

        var next = Decide(View(3, "a", "b"), trackers);
        trackers["a"].Recovered(next["a"].Epoch);
        var after = Decide(View(4, "a", "b"), trackers);

        Assert.That(cut["a"].Unrecovered, Is.Empty, "both recovered in epoch 1");
        Assert.That(next.Values.All(d => d.Unrecovered.SetEquals(["a", "b"])), Is.True);
        Assert.That(after["b"].Unrecovered, Is.EquivalentTo(new[] { "b" }));
    }
    /// <summary>A primary whose joiners never caught up in it: they took part in nothing there, so the members that did
    /// are the ones that count (the nemesis found a cluster waiting for good after two partitions: seed 3200002).</summary>
    [Test]
    public void MembersThatNeverCaughtUpInThePrimary_DoNotCountAgainstTheOnesThatTookPart()
    {
        var trackers = Trackers(0, "a", "b", "c", "d", "e");
        Decide(View(1, "a", "b", "c", "d", "e"), trackers);
        trackers["c"].Behind = true; // c and d were excluded (a pause) and let back in
        trackers["d"].Behind = true;
        var joined = Decide(View(2, "a", "b", "c", "d"), trackers, catchUp: false); // c and d fresh; the view changes before they catch up

        var healed = Decide(View(3, "a", "b", "c", "d", "e"), trackers);

        Assert.That(joined["a"].IsPrimary, Is.True);
        Assert.That(joined["a"].Fresh, Is.EquivalentTo(new[] { "c", "d" }));
        Assert.That(healed.Values.All(d => d.IsPrimary), Is.True, "a and b took part in {a, b, c, d}; c and d did not");
    }
}
