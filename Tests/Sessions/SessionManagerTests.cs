using Moq;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.Tests.Sessions;

public sealed class SessionManagerTests
{
    private static Session Loaded(SessionAccess access = SessionAccess.Exclusive) =>
        new(new SessionState { Id = SessionIds.New(7), Version = 1, IdleTimeout = TimeSpan.FromMinutes(1) }, access, null, isNew: false);

    [Test]
    public async Task BeginRequest_WithAccessNone_LoadsNothing()
    {
        var store = new Mock<IClusterStore>(MockBehavior.Strict);
        var sut = new SessionManager(store.Object, new SessionOptions());

        var session = await sut.BeginRequestAsync(SessionIds.New(1), SessionAccess.None);

        Assert.That(session, Is.Null);
        store.VerifyNoOtherCalls();
    }

    [TestCase("")]
    [TestCase("not-a-session-id")]
    [TestCase("../../etc/passwd")]
    public async Task BeginRequest_WithAMalformedId_NeverReachesTheStore(string id)
    {
        var store = new Mock<IClusterStore>(MockBehavior.Strict);
        var sut = new SessionManager(store.Object, new SessionOptions());

        Assert.That(await sut.BeginRequestAsync(id, SessionAccess.Exclusive), Is.Null);
        store.VerifyNoOtherCalls();
    }

    [Test]
    public async Task EndRequest_PublishesThroughTheStoreAndRaisesChanged()
    {
        var store = new Mock<IClusterStore>();
        var sut = new SessionManager(store.Object, new SessionOptions());
        var changed = new List<string>();
        sut.Changed += (_, e) => changed.Add(e.SessionId);
        var session = Loaded();
        session.SetString("k", "v");

        await sut.EndRequestAsync(session);

        store.Verify(s => s.CommitAsync(session, It.IsAny<CancellationToken>()), Times.Once);
        Assert.That(changed, Is.EqualTo(new[] { session.Id }));
    }

    [Test]
    public async Task AbortRequest_ReleasesWithoutPublishing()
    {
        var store = new Mock<IClusterStore>();
        var sut = new SessionManager(store.Object, new SessionOptions());
        var session = Loaded();

        await sut.AbortRequestAsync(session);

        store.Verify(s => s.ReleaseAsync(session, It.IsAny<CancellationToken>()), Times.Once);
        store.Verify(s => s.CommitAsync(It.IsAny<Session>(), It.IsAny<CancellationToken>()), Times.Never);
    }

    [Test]
    public async Task CustomManager_SeesTheLifecycle()
    {
        var store = new Mock<IClusterStore>();
        store.Setup(s => s.CreateAsync(It.IsAny<CancellationToken>())).ReturnsAsync(() => Loaded());
        store.SetupGet(s => s.InstanceId).Returns("node1");
        var sut = new AuditingManager(store.Object);

        var session = await sut.CreateAsync();
        session.SetString("k", "v");
        await sut.EndRequestAsync(session);

        Assert.That(sut.Log, Is.EqualTo(new[] { $"created {session.Id}", $"changed {session.Id}" }));
    }

    [Test]
    public void Options_Invalid_FailNamingTheKey()
    {
        var store = new Mock<IClusterStore>();

        var error = Assert.Throws<OptionsValidationError>(() => new SessionManager(store.Object, new SessionOptions { MaxSessionBytes = 0 }));

        Assert.That(error!.Key, Is.EqualTo("Session:MaxSessionBytes"));
        Assert.That(error.Message, Does.Contain("Session:MaxSessionBytes"));
    }

    /// <summary>The custom Manager the README shows.</summary>
    private sealed class AuditingManager(IClusterStore store) : SessionManager(store, new SessionOptions())
    {
        public List<string> Log { get; } = [];

        protected override void OnCreated(SessionEventArgs e)
        {
            Log.Add($"created {e.SessionId}");
            base.OnCreated(e);
        }

        protected override void OnChanged(SessionEventArgs e)
        {
            Log.Add($"changed {e.SessionId}");
            base.OnChanged(e);
        }
    }
}
