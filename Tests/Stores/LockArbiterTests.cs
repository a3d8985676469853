using Microsoft.Extensions.Time.Testing;
using Multicast.Stores;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

/// <summary>The arbiter's lock rules, without I/O, on a manual clock.</summary>
public sealed class LockArbiterTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch.AddDays(1));
    private LockArbiter _sut = null!;

    private static readonly long Floor = LockArbiter.FirstTokenOf(3);

    [SetUp]
    public void NewArbiter() => _sut = new LockArbiter(_time, Lease);

    private static LockWaiter Remote(string node, ulong request = 1) => new("s", node, request, 0, null);

    private static (LockWaiter Waiter, TaskCompletionSource<LockDecision> Done) Local(string node)
    {
        var done = new TaskCompletionSource<LockDecision>();
        return (new LockWaiter("s", node, 0, 0, done), done);
    }

    [Test]
    public void Acquire_Free_GrantsATokenAtLeastTheEpochFloorWithTheLease()
    {
        var decision = _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, recordToken: 0, Floor);

        Assert.That(decision!.IsGranted, Is.True);
        Assert.That(decision.Token, Is.GreaterThanOrEqualTo(Floor));
        Assert.That(decision.ExpiresAt, Is.EqualTo(_time.GetUtcNow() + Lease));
        Assert.That(_sut.HolderOf("s"), Is.EqualTo("a"));
    }

    [Test]
    public void Acquire_HeldWithFail_NamesTheHolder([Values(1, 2)] int policyValue)
    {
        _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, 0, Floor);

        var decision = _sut.Acquire("s", Remote("b"), (ConflictPolicy)policyValue, 0, Floor);

        Assert.That(decision!.IsGranted, Is.False);
        Assert.That(decision.Holder, Is.EqualTo("a"));
    }

    [Test]
    public void Release_WithAWaiter_GrantsItTheNextLargerToken()
    {
        var first = _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, 0, Floor)!;
        var (waiter, _) = Local("b");
        Assert.That(_sut.Acquire("s", waiter, ConflictPolicy.Wait, 0, Floor), Is.Null, "queued");

        var delivered = _sut.Release("s", "a", first.Token, recordToken: 0, Floor);

        Assert.That(delivered, Has.Count.EqualTo(1));
        Assert.That(delivered[0].Waiter, Is.SameAs(waiter));
        Assert.That(delivered[0].Decision.Token, Is.GreaterThan(first.Token));
        Assert.That(_sut.HolderOf("s"), Is.EqualTo("b"));
    }

    [Test]
    public void Release_ByAnotherNodeOrWithAnotherToken_ChangesNothing()
    {
        var first = _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, 0, Floor)!;

        Assert.That(_sut.Release("s", "b", first.Token, 0, Floor), Is.Empty);
        Assert.That(_sut.Release("s", "a", first.Token + 1, 0, Floor), Is.Empty);
        Assert.That(_sut.HolderOf("s"), Is.EqualTo("a"));
    }

    [Test]
    public void ExpireLeases_AfterTheLease_GrantsTheWaiterAndTheOldTokenIsStale()
    {
        var first = _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, 0, Floor)!;
        _sut.Acquire("s", Remote("b", 2), ConflictPolicy.Wait, 0, Floor);

        _time.Advance(Lease - TimeSpan.FromMilliseconds(1));
        Assert.That(_sut.ExpireLeases(_ => 0, Floor), Is.Empty, "not yet");
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var delivered = _sut.ExpireLeases(_ => 0, Floor);

        Assert.That(delivered.Single().Waiter.Node, Is.EqualTo("b"));
        Assert.That(_sut.Check("s", "a", first.Token, recordToken: 0).Allowed, Is.False, "a commit under the expired lease is refused once another holder has it");
        Assert.That(_sut.Check("s", "b", delivered[0].Decision.Token, 0).Allowed, Is.True);
    }

    [Test]
    public void Check_ExpiredLeaseNobodyTookSince_TheHolderMayStillCommitOnce()
    {
        var grant = _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, 0, Floor)!;
        _time.Advance(Lease + TimeSpan.FromSeconds(1));
        _sut.ExpireLeases(_ => 0, Floor);

        Assert.That(_sut.Check("s", "a", grant.Token, recordToken: 0).Allowed, Is.True, "nobody wrote or took the lock since");
        Assert.That(_sut.Check("s", "a", grant.Token, recordToken: grant.Token).Allowed, Is.False, "but a token a write already used is spent");
    }

    [Test]
    public void Tokens_AcrossReleasesAndEpochs_OnlyGrow()
    {
        var tokens = new List<long>();
        long record = 0;
        for (var epoch = 1; epoch <= 3; epoch++)
        {
            for (var i = 0; i < 5; i++)
            {
                var grant = _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, record, LockArbiter.FirstTokenOf(epoch))!;
                tokens.Add(grant.Token);
                if (i % 2 == 0)
                    record = grant.Token; // a write used it
                _sut.Release("s", "a", grant.Token, record, LockArbiter.FirstTokenOf(epoch));
            }
        }

        Assert.That(tokens, Is.Ordered.Ascending.And.Unique);
        Assert.That(LockArbiter.FirstTokenOf(2), Is.GreaterThan(tokens[4]), "a later epoch starts above anything an earlier one could grant");
    }

    [Test]
    public void DropNodes_HolderLeft_FreesTheLockAtOnceAndDropsItsQueuedRequests()
    {
        _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, 0, Floor);
        _sut.Acquire("s", Remote("gone", 2), ConflictPolicy.Wait, 0, Floor);
        _sut.Acquire("s", Remote("b", 3), ConflictPolicy.Wait, 0, Floor);

        var delivered = _sut.DropNodes(n => n is "a" or "gone", _ => 0, Floor);

        Assert.That(delivered.Single().Waiter.Node, Is.EqualTo("b"));
        Assert.That(_sut.HolderOf("s"), Is.EqualTo("b"));
    }

    [Test]
    public void ExportThenImport_HandsTheLockToTheNextArbiterWithItsTokens()
    {
        var grant = _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, 0, Floor)!;
        var (entry, _) = _sut.Export("s");
        var next = new LockArbiter(_time, Lease);

        next.Import(entry!, holderInView: true);

        Assert.That(next.HolderOf("s"), Is.EqualTo("a"));
        Assert.That(next.Check("s", "a", grant.Token, 0).Allowed, Is.True);
        var later = next.Acquire("s", Remote("b"), ConflictPolicy.Fail, 0, Floor)!;
        Assert.That(later.IsGranted, Is.False, "still held");
        Assert.That(_sut.HolderOf("s"), Is.Null, "the old arbiter holds nothing any more");
    }

    [Test]
    public void Import_HolderNotInTheView_KeepsTheTokensButNotTheHolder()
    {
        var grant = _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, 0, Floor)!;
        var (entry, _) = _sut.Export("s");
        var next = new LockArbiter(_time, Lease);

        next.Import(entry!, holderInView: false);
        var again = next.Acquire("s", Remote("b"), ConflictPolicy.Fail, 0, Floor)!;

        Assert.That(again.IsGranted, Is.True);
        Assert.That(again.Token, Is.GreaterThan(grant.Token));
    }

    [Test]
    public void Cancel_AQueuedRequest_IsNotGrantedOnRelease()
    {
        var first = _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, 0, Floor)!;
        _sut.Acquire("s", Remote("b", 7), ConflictPolicy.Wait, 0, Floor);

        Assert.That(_sut.Cancel("s", "b", 7), Is.True);
        Assert.That(_sut.Release("s", "a", first.Token, 0, Floor), Is.Empty);
        Assert.That(_sut.HolderOf("s"), Is.Null);
    }

    [Test]
    public void Release_FreeAndCommitted_LeavesNoState()
    {
        var grant = _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, 0, Floor)!;

        _sut.Release("s", "a", grant.Token, recordToken: grant.Token, Floor);

        Assert.That(_sut.Count, Is.Zero, "a committed, free lock is carried by the session's record alone");
    }

    [Test]
    public void Release_FreeNotCommitted_KeepsTheLastTokenSoItIsNeverGrantedAgain()
    {
        var grant = _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, 0, Floor)!;
        _sut.Release("s", "a", grant.Token, recordToken: 0, Floor);

        var next = _sut.Acquire("s", Remote("a"), ConflictPolicy.Fail, 0, Floor)!;

        Assert.That(next.Token, Is.GreaterThan(grant.Token));
    }
}
