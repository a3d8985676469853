using Microsoft.Extensions.Time.Testing;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Wire;
using Attribute = Multicast.Wire.Attribute;

namespace Multicast.Tests.Stores;

/// <summary>Version order, parked deltas, tombstones and reconciled copies, without I/O.</summary>
public sealed class SessionApplierTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UnixEpoch.AddDays(1));
    private readonly SessionOptions _options = new() { IdleTimeout = TimeSpan.FromMinutes(20) };
    private SessionTable _table = null!;
    private SessionApplier _sut = null!;

    [SetUp]
    public void NewApplier()
    {
        _table = new SessionTable();
        _sut = new SessionApplier(_table, _options, _time, disk: null);
    }

    private static SessionDelta Delta(long version, string value, long epoch = 1, ulong commitId = 0) => new()
    {
        Id = "0001abc",
        BaseVersion = version - 1,
        Version = version,
        Epoch = epoch,
        Writer = "a",
        CommitId = commitId == 0 ? (ulong)version : commitId,
        IsNew = version == 1,
        Set = [new Attribute { Key = "v", Value = System.Text.Encoding.UTF8.GetBytes(value) }],
    };

    private static SessionCopy Copy(long version, long epoch, string value, bool removed = false) => new()
    {
        Id = "0001abc",
        Version = version,
        Epoch = epoch,
        Writer = "a",
        Removed = removed,
        Attributes = removed ? [] : [new Attribute { Key = "v", Value = System.Text.Encoding.UTF8.GetBytes(value) }],
    };

    private string? Value => _table.Get("0001abc") is { } s ? System.Text.Encoding.UTF8.GetString(s.Attributes["v"]) : null;

    [Test]
    public void ApplyDelta_InOrder_EachOnItsBase()
    {
        Assert.That(_sut.ApplyDelta(Delta(1, "one"), "a"), Is.EqualTo(ApplyResult.Applied));
        Assert.That(_sut.ApplyDelta(Delta(2, "two"), "a"), Is.EqualTo(ApplyResult.Applied));

        Assert.That(Value, Is.EqualTo("two"));
        Assert.That(_table.Get("0001abc")!.RecentCommits, Is.EqualTo(new ulong[] { 1, 2 }));
    }

    [Test]
    public void ApplyDelta_BeforeItsBase_IsParkedThenAppliedWhenTheBaseArrives()
    {
        _sut.ApplyDelta(Delta(1, "one"), "a");

        Assert.That(_sut.ApplyDelta(Delta(3, "three"), "a"), Is.EqualTo(ApplyResult.Parked));
        Assert.That(_sut.IsParked("0001abc"), Is.True);
        Assert.That(Value, Is.EqualTo("one"));
        Assert.That(_sut.ApplyDelta(Delta(2, "two"), "a"), Is.EqualTo(ApplyResult.Applied));

        Assert.That(Value, Is.EqualTo("three"));
        Assert.That(_sut.IsParked("0001abc"), Is.False);
    }

    [Test]
    public void ApplyDelta_Twice_IsADuplicate()
    {
        _sut.ApplyDelta(Delta(1, "one"), "a");

        Assert.That(_sut.ApplyDelta(Delta(1, "one"), "a"), Is.EqualTo(ApplyResult.Duplicate));
    }

    [Test]
    public void ApplyDelta_SameVersionFromALaterEpoch_IsAConflictThatWaitsForTheArbitersBase()
    {
        _sut.ApplyDelta(Delta(1, "one"), "a");
        _sut.ApplyDelta(Delta(2, "unconfirmed", epoch: 1), "a");

        Assert.That(_sut.ApplyDelta(Delta(2, "confirmed", epoch: 2, commitId: 99), "b"), Is.EqualTo(ApplyResult.Conflict));
        Assert.That(_sut.IsParked("0001abc"), Is.True, "it waits, so that the copy of its base lets it apply (and a failed fetch is retried)");
        Assert.That(Value, Is.EqualTo("unconfirmed"));
        Assert.That(_sut.ApplyCopy(Copy(1, 1, "one"), authoritative: true, currentEpoch: 2), Is.True, "the arbiter's copy replaces the one it never confirmed");

        Assert.That(Value, Is.EqualTo("confirmed"), "then the delta the arbiter sequenced on it applies");
        Assert.That(_table.Get("0001abc")!.Epoch, Is.EqualTo(2));
        Assert.That(_sut.IsParked("0001abc"), Is.False);
    }

    [Test]
    public void Removal_LeavesATombstoneThatKeepsOlderCopiesAndDeltasOut()
    {
        _sut.ApplyDelta(Delta(1, "one"), "a");
        _sut.ApplyDelta(new SessionDelta { Id = "0001abc", BaseVersion = 1, Version = 2, Epoch = 1, Writer = "a", Removal = true, CommitId = 5 }, "a");

        Assert.That(_table.Contains("0001abc"), Is.False);
        Assert.That(_sut.ApplyCopy(Copy(1, 1, "stale"), authoritative: false, currentEpoch: 1), Is.False);
        Assert.That(_sut.ApplyDelta(Delta(2, "late"), "b"), Is.EqualTo(ApplyResult.Superseded));
        Assert.That(_table.Contains("0001abc"), Is.False, "a removed session stays removed");
    }

    [Test]
    public void Tombstone_IsForgottenOnlyAfterTheIdleTimeout()
    {
        _sut.Remove("0001abc", epoch: 1, version: 2, []);

        _time.Advance(_options.IdleTimeout);
        Assert.That(_sut.PruneTombstones(), Is.Zero);
        _time.Advance(_options.EffectiveAccessWindow + TimeSpan.FromSeconds(1));
        Assert.That(_sut.PruneTombstones(), Is.EqualTo(1));
        Assert.That(_sut.TombstoneOf("0001abc"), Is.Null);
    }

    [Test]
    public void ApplyCopy_Newer_ReplacesOlder_OrderedByEpochThenVersion()
    {
        _sut.ApplyCopy(Copy(5, 1, "v5 of epoch 1"), false, 1);

        Assert.That(_sut.ApplyCopy(Copy(4, 1, "older"), false, 1), Is.False);
        Assert.That(_sut.ApplyCopy(Copy(3, 2, "epoch 2 wins"), false, 2), Is.True);
        Assert.That(Value, Is.EqualTo("epoch 2 wins"));
    }

    [Test]
    public void ApplyCopy_Authoritative_DoesNotUndoACommitOfTheCurrentEpoch()
    {
        _sut.ApplyCopy(Copy(6, 3, "committed in epoch 3"), false, 3);

        Assert.That(_sut.ApplyCopy(Copy(5, 2, "reconciled copy from before"), authoritative: true, currentEpoch: 3), Is.False);
        Assert.That(Value, Is.EqualTo("committed in epoch 3"));
    }

    [Test]
    public void DueParked_AfterThePatience_AsksOnceUntilThePatiencePassesAgain()
    {
        _sut.ApplyDelta(Delta(1, "one"), "a");
        _sut.ApplyDelta(Delta(3, "three"), "a");

        Assert.That(_sut.DueParked(TimeSpan.FromMilliseconds(200)), Is.Empty);
        _time.Advance(TimeSpan.FromMilliseconds(200));
        Assert.That(_sut.DueParked(TimeSpan.FromMilliseconds(200)), Is.EqualTo(new[] { ("0001abc", "a") }));
        Assert.That(_sut.DueParked(TimeSpan.FromMilliseconds(200)), Is.Empty);
    }
}
