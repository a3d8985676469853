using Multicast.Sessions;

namespace Multicast.Tests.Sessions;

public sealed class SessionTests
{
    private static SessionState Record(params (string Key, string Value)[] attributes) => new()
    {
        Id = SessionIds.New(1),
        Version = 3,
        Attributes = attributes.ToDictionary(a => a.Key, a => System.Text.Encoding.UTF8.GetBytes(a.Value), StringComparer.Ordinal),
        IdleTimeout = TimeSpan.FromMinutes(20),
    };

    [Test]
    public void Set_TracksOnlyTheChangedKeys()
    {
        var sut = new Session(Record(("a", "1"), ("b", "2")), SessionAccess.Exclusive, null, isNew: false);

        sut.SetString("b", "3");
        sut.SetString("c", "4");

        Assert.That(sut.IsChanged, Is.True);
        Assert.That(sut.Changes.Set.Keys, Is.EquivalentTo(new[] { "b", "c" }));
        Assert.That(sut.Changes.Removed, Is.Empty);
        Assert.That(sut.GetString("a"), Is.EqualTo("1"));
        Assert.That(sut.GetString("b"), Is.EqualTo("3"));
    }

    [Test]
    public void Remove_OfAStoredKey_IsTrackedAndHidesIt()
    {
        var sut = new Session(Record(("a", "1")), SessionAccess.Exclusive, null, isNew: false);

        sut.Remove("a");
        sut.Remove("never-there");

        Assert.That(sut.Changes.Removed, Is.EquivalentTo(new[] { "a" }));
        Assert.That(sut.TryGetValue("a", out _), Is.False);
        Assert.That(sut.Keys, Is.Empty);
    }

    [Test]
    public void SetAfterRemove_IsASetNotARemoval()
    {
        var sut = new Session(Record(("a", "1")), SessionAccess.Exclusive, null, isNew: false);

        sut.Remove("a");
        sut.SetString("a", "2");

        Assert.That(sut.Changes.Removed, Is.Empty);
        Assert.That(sut.GetString("a"), Is.EqualTo("2"));
    }

    [Test]
    public void Clear_RemovesEveryStoredKey()
    {
        var sut = new Session(Record(("a", "1"), ("b", "2")), SessionAccess.Exclusive, null, isNew: false);

        sut.Clear();

        Assert.That(sut.Keys, Is.Empty);
        Assert.That(sut.Changes.Removed, Is.EquivalentTo(new[] { "a", "b" }));
    }

    [Test]
    public void Reads_AreNotChanges()
    {
        var sut = new Session(Record(("a", "1")), SessionAccess.Exclusive, null, isNew: false);

        _ = sut.GetString("a");
        _ = sut.Keys.ToList();

        Assert.That(sut.IsChanged, Is.False);
    }

    [TestCase(SessionAccess.ReadOnly)]
    [TestCase(SessionAccess.None)]
    public void Changes_WithoutExclusiveAccess_AreRefused(SessionAccess access)
    {
        var sut = new Session(Record(("a", "1")), access, null, isNew: false);

        Assert.Throws<InvalidOperationException>(() => sut.SetString("a", "2"));
        Assert.Throws<InvalidOperationException>(() => sut.Remove("a"));
    }

    [Test]
    public void Changes_TakenBeforeTheFirstWrite_SeeTheWritesAfterIt()
    {
        var sut = new Session(Record(("a", "1"), ("b", "2")), SessionAccess.Exclusive, null, isNew: false);

        var changes = sut.Changes;
        Assert.That(changes.IsEmpty, Is.True);
        sut.SetString("c", "3");
        sut.Remove("a");

        Assert.That(changes.Set.Keys, Is.EquivalentTo(new[] { "c" }));
        Assert.That(changes.Removed, Is.EquivalentTo(new[] { "a" }));
        Assert.That(sut.Keys, Is.EquivalentTo(new[] { "b", "c" }));
    }

    [Test]
    public void Clear_OfAnUntouchedSession_RemovesEveryStoredKey()
    {
        var sut = new Session(Record(("a", "1"), ("b", "2")), SessionAccess.Exclusive, null, isNew: false);

        sut.Clear();
        sut.SetString("c", "3");

        Assert.That(sut.Changes.Removed, Is.EquivalentTo(new[] { "a", "b" }));
        Assert.That(sut.Keys, Is.EquivalentTo(new[] { "c" }));
        Assert.That(sut.TryGetValue("a", out _), Is.False);
    }

    [TestCase(SessionAccess.ReadOnly)]
    [TestCase(SessionAccess.None)]
    public void MarkCommitted_WithoutExclusiveAccess_IsRefused(SessionAccess access)
    {
        var state = Record(("a", "1"));
        var sut = new Session(state, access, null, isNew: false);

        Assert.Throws<InvalidOperationException>(() => sut.MarkCommitted(Record(("a", "2"))));
        Assert.That(sut.State, Is.SameAs(state));
        Assert.That(sut.IsCompleted, Is.False);
    }

    [Test]
    public void SharedReadOnlyView_CompletingIt_RecordsNothing()
    {
        var state = Record(("a", "1"));
        var sut = state.ReadOnlyFind.Result!;

        Assert.That(sut.MarkCompleted(), Is.True);
        Assert.That(sut.MarkCompleted(), Is.True, "every request that shares it completes it once");
        Assert.That(sut.IsCompleted, Is.False);
        Assert.That(sut.Access, Is.EqualTo(SessionAccess.ReadOnly));
        Assert.That(sut.IsChanged, Is.False);
        Assert.That(sut.GetString("a"), Is.EqualTo("1"));
        Assert.That(state.ReadOnlyFind, Is.SameAs(state.ReadOnlyFind), "one view per state");
        Assert.Throws<InvalidOperationException>(() => sut.SetString("a", "2"));
    }

    [Test]
    public void TypedHelpers_RoundTrip()
    {
        var sut = new Session(Record(), SessionAccess.Exclusive, null, isNew: true);

        sut.SetInt32("n", -42);
        sut.SetString("s", "héllo");
        sut.SetJson("j", new[] { 1, 2, 3 });

        Assert.That(sut.GetInt32("n"), Is.EqualTo(-42));
        Assert.That(sut.GetString("s"), Is.EqualTo("héllo"));
        Assert.That(sut.GetJson<int[]>("j"), Is.EqualTo(new[] { 1, 2, 3 }));
        Assert.That(sut.GetInt32("missing"), Is.Null);
    }

    [Test]
    public void IdleTimeout_Change_TravelsAsAChange()
    {
        var sut = new Session(Record(), SessionAccess.Exclusive, null, isNew: false);

        sut.IdleTimeout = TimeSpan.FromMinutes(5);

        Assert.That(sut.IsChanged, Is.True);
        Assert.That(sut.Changes.IdleTimeout, Is.EqualTo(TimeSpan.FromMinutes(5)));
    }

    [Test]
    public void Expiry_FollowsTheInjectedClock()
    {
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var sut = new SessionState { Id = "x", LastAccessedAt = start, IdleTimeout = TimeSpan.FromMinutes(20) };

        Assert.That(sut.IsExpired(start + TimeSpan.FromMinutes(19)), Is.False);
        Assert.That(sut.IsExpired(start + TimeSpan.FromMinutes(20)), Is.True);
    }
}
