using Multicast.Messaging;
using Multicast.Nemesis.Checking;
using Multicast.Nemesis.History;
using Multicast.Nemesis.Running;
using Multicast.Nemesis.Schedules;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.Tests.Tools.Nemesis;

/// <summary>
/// The whole harness, end to end, against stores that break the contract on purpose (a decorator over the replicated
/// store, written against the public contract only): the checker must catch them. Whatever the real store also does
/// wrong under the machine's load, these violations are certain.
/// </summary>
public sealed class ScheduleRunnerTests
{
    private const int Seed = 424242;

    [Test]
    public async Task Run_StoreThatAcknowledgesCommitsItDropped_IsCaughtLosingUpdates()
    {
        var schedule = ScheduleGenerator.Generate(Seed, StoreKind.Replicated, FaultFamily.None, locking: LockingMode.Pessimistic);

        var result = await ScheduleRunner.RunAsync(schedule, store => new FaultyStore(store, FaultyStore.Fault.AcknowledgeWithoutApplying));

        TestContext.Out.WriteLine(ScheduleReport.Format(result));
        Assert.That(result.History.Count(o => o.Kind == OpKind.Increment), Is.GreaterThan(20), "the clients ran");
        Assert.That(result.Violations.Select(v => v.Kind), Does.Contain(ViolationKind.LostUpdate));
        Assert.That(result.Passed, Is.False);
    }

    [Test]
    public async Task Run_StoreThatRefusesCommitsItApplied_IsCaughtApplyingRefusedWrites()
    {
        var schedule = ScheduleGenerator.Generate(Seed, StoreKind.Replicated, FaultFamily.None, locking: LockingMode.Pessimistic);

        var result = await ScheduleRunner.RunAsync(schedule, store => new FaultyStore(store, FaultyStore.Fault.ApplyThenRefuse));

        Assert.That(result.Violations.Select(v => v.Kind), Does.Contain(ViolationKind.RefusedButApplied));
        var report = ScheduleReport.Format(result);
        Assert.That(report, Does.Contain($"FAIL seed {Seed}").And.Contain("RefusedButApplied").And.Contain(schedule.ReplayCommand));
        Assert.That(report, Does.Contain("ClusterUnavailableException"), "the offending history lines are printed");
    }

    [Test]
    public async Task Run_StoreThatAnswersCommitInDoubt_IsNotBlamedForIt()
    {
        var schedule = ScheduleGenerator.Generate(Seed, StoreKind.Replicated, FaultFamily.None, locking: LockingMode.Pessimistic);

        var result = await ScheduleRunner.RunAsync(schedule, store => new FaultyStore(store, FaultyStore.Fault.InDoubt));

        TestContext.Out.WriteLine(ScheduleReport.Format(result));
        var inDoubt = result.History.Where(o => o.Error?.StartsWith(nameof(CommitInDoubtException), StringComparison.Ordinal) == true).Select(o => o.Id).ToHashSet();
        Assert.That(inDoubt, Has.Count.GreaterThan(2), "some commits were answered in doubt");
        Assert.That(result.History.Where(o => inDoubt.Contains(o.Id)).Select(o => o.Outcome), Is.All.EqualTo(OpOutcome.Ambiguous));
        // Applied or not, an in-doubt answer is the one ambiguous outcome the contract allows: whatever else the inner
        // store does under the machine's load, no violation may rest on one.
        Assert.That(result.Violations.Where(v => v.Ops.Any(inDoubt.Contains)), Is.Empty);
    }

    /// <summary>Every fourth commit goes wrong in one of three ways; everything else is the inner store's.</summary>
    private sealed class FaultyStore(IClusterStore inner, FaultyStore.Fault fault) : IClusterStore, IClusterMembership
    {
        private int _commits;

        public enum Fault
        {
            /// <summary>Releases the lock, changes nothing, and answers as if committed.</summary>
            AcknowledgeWithoutApplying,

            /// <summary>Commits, then answers "not applied".</summary>
            ApplyThenRefuse,

            /// <summary>Answers "in doubt": every other time after committing, else after releasing without a change.</summary>
            InDoubt,
        }

        public string InstanceId => inner.InstanceId;

        public ClusterStoreStatus Status => inner.Status;

        public MembershipView View => ((IClusterMembership)inner).View;

        public Task StartAsync(SessionStoreContext context, CancellationToken cancellationToken = default) => inner.StartAsync(context, cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken = default) => inner.StopAsync(cancellationToken);

        public Task<Session> CreateAsync(CancellationToken cancellationToken = default) => inner.CreateAsync(cancellationToken);

        public Task<Session?> FindAsync(string id, SessionAccess access, CancellationToken cancellationToken = default) => inner.FindAsync(id, access, cancellationToken);

        public async Task CommitAsync(Session session, CancellationToken cancellationToken = default)
        {
            var n = session.IsNew ? 1 : Interlocked.Increment(ref _commits);
            if (n % 4 != 0)
            {
                await inner.CommitAsync(session, cancellationToken);
                return;
            }
            if (fault == Fault.InDoubt)
            {
                if (n % 8 == 0)
                    await inner.CommitAsync(session, cancellationToken);
                else
                    await inner.ReleaseAsync(session, cancellationToken);
                throw new CommitInDoubtException(session.Id, "in doubt (the fault under test)");
            }
            if (fault == Fault.AcknowledgeWithoutApplying)
            {
                await inner.ReleaseAsync(session, cancellationToken);
                session.MarkCommitted(session.State);
                return;
            }
            await inner.CommitAsync(session, cancellationToken);
            throw new ClusterUnavailableException(ClusterStoreStatus.NoQuorum, "refused (but applied: the fault under test)", TimeSpan.FromSeconds(1));
        }

        public Task ReleaseAsync(Session session, CancellationToken cancellationToken = default) => inner.ReleaseAsync(session, cancellationToken);

        public Task<bool> RemoveAsync(string id, SessionRemovalReason reason, CancellationToken cancellationToken = default) => inner.RemoveAsync(id, reason, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
