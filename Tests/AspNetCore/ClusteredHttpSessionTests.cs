using Moq;
using Multicast.AspNetCore;
using Multicast.Sessions;

namespace Multicast.Tests.AspNetCore;

public sealed class ClusteredHttpSessionTests
{
    private FakeClusterStore _store = null!;
    private SessionManager _manager = null!;

    [SetUp]
    public async Task SetUp()
    {
        _store = new FakeClusterStore();
        _manager = new SessionManager(_store, new SessionOptions());
        await _manager.StartAsync();
    }

    [TearDown]
    public async Task TearDown() => await _manager.DisposeAsync();

    [Test]
    public async Task Set_WithoutSession_KeptUntilCommitThenCreatesSession()
    {
        var sut = new ClusteredHttpSession(_manager, SessionAccess.Exclusive, null);

        sut.Set("a", [1]);
        sut.Set("b", [2]);
        sut.Remove("b");
        var keysBefore = sut.Keys.ToArray();
        var tableBefore = _store.Table.Count;
        await sut.CommitAsync();

        Assert.That(keysBefore, Is.EqualTo(new[] { "a" }));
        Assert.That(tableBefore, Is.Zero);
        Assert.That(sut.Created, Is.True);
        Assert.That(_store.Table.Get(sut.Current!.Id)!.Attributes.Keys, Is.EqualTo(new[] { "a" }));
    }

    [Test]
    public async Task Commit_WithoutAnyWrite_CreatesNothing()
    {
        var sut = new ClusteredHttpSession(_manager, SessionAccess.Exclusive, null);

        await sut.CommitAsync();

        Assert.That(sut.Current, Is.Null);
        Assert.That(_store.Table, Is.Empty);
    }

    [Test]
    public async Task Set_AfterCommit_Throws()
    {
        var sut = new ClusteredHttpSession(_manager, SessionAccess.Exclusive, null);
        sut.Set("a", [1]);
        await sut.CommitAsync();

        Assert.Throws<InvalidOperationException>(() => sut.Set("a", [2]));
    }

    [TestCase(SessionAccess.ReadOnly)]
    [TestCase(SessionAccess.None)]
    public void Set_WithoutExclusiveAccess_ThrowsNamingTheAccess(SessionAccess access)
    {
        var sut = new ClusteredHttpSession(_manager, access, null);

        var ex = Assert.Throws<InvalidOperationException>(() => sut.Set("a", [1]));

        Assert.That(ex!.Message, Does.Contain(access.ToString()));
    }

    [Test]
    public async Task Clear_OnLoadedSession_RemovesEveryKeyAtCommit()
    {
        var first = new ClusteredHttpSession(_manager, SessionAccess.Exclusive, null);
        first.Set("a", [1]);
        first.Set("b", [2]);
        await first.CommitAsync();
        var loaded = await _manager.BeginRequestAsync(first.Current!.Id, SessionAccess.Exclusive);
        var sut = new ClusteredHttpSession(_manager, SessionAccess.Exclusive, loaded);

        sut.Clear();
        await sut.CommitAsync();

        Assert.That(sut.Keys, Is.Empty);
        Assert.That(_store.Table.Get(first.Current.Id)!.Attributes, Is.Empty);
    }

    [Test]
    public async Task Abort_ReleasesThroughTheManager()
    {
        var store = new Mock<Multicast.Sessions.IClusterStore>();
        var manager = new Mock<SessionManager>(store.Object, new SessionOptions(), null!, null!) { CallBase = true };
        var created = new ClusteredHttpSession(_manager, SessionAccess.Exclusive, null);
        _ = created.Id; // creates a session held by the fake store
        var sut = new ClusteredHttpSession(manager.Object, SessionAccess.Exclusive, created.Current);

        await sut.AbortAsync(CancellationToken.None);

        manager.Verify(m => m.AbortRequestAsync(created.Current!, It.IsAny<CancellationToken>()), Times.Once);
        manager.Verify(m => m.EndRequestAsync(It.IsAny<Session>(), It.IsAny<CancellationToken>()), Times.Never);
    }
}
