using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Multicast.AspNetCore;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.Tests.AspNetCore;

[Category("Integration")]
public sealed class ClusteredSessionMiddlewareTests
{
    private FakeClusterStore _store = null!;
    private TestApp _sut = null!;
    private TaskCompletionSource _release = null!;
    private int _holding;

    [SetUp]
    public async Task SetUp()
    {
        _store = new FakeClusterStore();
        _release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _sut = await TestApp.StartAsync(b => b.UseStore(_ => _store), Map);
    }

    [TearDown]
    public async Task TearDown()
    {
        _release.TrySetResult();
        await _sut.DisposeAsync();
    }

    private void Map(WebApplication app)
    {
        app.MapPost("/counter", (HttpContext c) => Increment(c));
        app.MapGet("/counter", (HttpContext c) => (c.Session.GetInt32("count") ?? 0).ToString()).WithSessionAccess(SessionAccess.ReadOnly);
        app.MapGet("/attribute-read", [SessionAccess(SessionAccess.ReadOnly)] (HttpContext c) => (c.Session.GetInt32("count") ?? 0).ToString());
        app.MapPost("/readonly-write", (HttpContext c) => Increment(c)).WithSessionAccess(SessionAccess.ReadOnly);
        app.MapGet("/none", (HttpContext c) => c.Session.IsAvailable.ToString()).WithSessionAccess(SessionAccess.None);
        app.MapPost("/hold", async (HttpContext c) =>
        {
            var value = Increment(c);
            Interlocked.Increment(ref _holding);
            await _release.Task;
            return value;
        });
        app.MapPost("/throw", (HttpContext c) =>
        {
            c.Session.SetInt32("count", 100);
            throw new InvalidOperationException("endpoint failed");
        });
        app.MapGet("/id", (HttpContext c) => c.Session.Id);
        app.MapDelete("/session", async (HttpContext c) =>
        {
            await c.InvalidateSessionAsync();
            return Results.NoContent();
        });
    }

    private static string Increment(HttpContext c)
    {
        var count = (c.Session.GetInt32("count") ?? 0) + 1;
        c.Session.SetInt32("count", count);
        return count.ToString();
    }

    [Test]
    public async Task Post_WithoutCookie_CreatesSessionAndSetsCookie()
    {
        using var client = _sut.Client(cookies: false);

        using var response = await client.PostAsync("/counter", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("1"));
        var cookie = response.Headers.GetValues("Set-Cookie").Single();
        Assert.That(cookie, Does.StartWith(ClusteredSessionOptions.DefaultCookieName + "="));
        Assert.That(cookie.ToLowerInvariant(), Does.Contain("httponly").And.Contain("samesite=lax").And.Contain("path=/"));
        Assert.That(_store.Table, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task Post_WithCookie_IncrementsTheSameSessionWithoutNewCookie()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);

        using var second = await client.PostAsync("/counter", null);
        var read = await client.GetStringAsync("/counter");

        Assert.That(await second.Content.ReadAsStringAsync(), Is.EqualTo("2"));
        Assert.That(second.Headers.Contains("Set-Cookie"), Is.False);
        Assert.That(read, Is.EqualTo("2"));
        Assert.That(_store.Table, Has.Count.EqualTo(1));
    }

    [Test]
    public async Task ReadOnlyGet_WithoutSession_CreatesNothing()
    {
        using var client = _sut.Client(cookies: false);

        using var response = await client.GetAsync("/counter");

        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("0"));
        Assert.That(response.Headers.Contains("Set-Cookie"), Is.False);
        Assert.That(_store.Table, Is.Empty);
    }

    [Test]
    public async Task ReadOnlyEndpoint_Write_FailsAndStoresNothing()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);

        using var response = await client.PostAsync("/readonly-write", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(await client.GetStringAsync("/counter"), Is.EqualTo("1"));
    }

    [Test]
    public async Task NoneEndpoint_SessionUnavailable_StoreNotCalled()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);
        var finds = _store.Finds;

        var available = await client.GetStringAsync("/none");

        Assert.That(available, Is.EqualTo("False"));
        Assert.That(_store.Finds, Is.EqualTo(finds));
    }

    [TestCase("/counter")]
    [TestCase("/attribute-read")]
    public async Task ReadOnlyEndpoint_WhileExclusiveRequestHoldsLock_AnswersWithoutWaiting(string path)
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);
        var hold = client.PostAsync("/hold", null);
        await TestApp.Eventually(HoldRunning, TimeSpan.FromSeconds(10), "the holding request did not start");

        var read = await client.GetStringAsync(path);

        Assert.That(read, Is.EqualTo("1"), "the read sees the last committed state, not the held request's change");
        Assert.That(hold.IsCompleted, Is.False, "the exclusive request is still holding the lock");
        _release.TrySetResult();
        using var held = await hold;
        Assert.That(await held.Content.ReadAsStringAsync(), Is.EqualTo("2"));
    }

    [Test]
    public async Task ExclusiveRequest_WhileAnotherHoldsLock_WaitsForTheCommit()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);
        var hold = client.PostAsync("/hold", null);
        await TestApp.Eventually(HoldRunning, TimeSpan.FromSeconds(10), "the holding request did not start");

        var second = client.PostAsync("/counter", null);
        await TestApp.Eventually(() => _store.Waiting == 1, TimeSpan.FromSeconds(10), "the second request did not wait for the lock");
        Assert.That(second.IsCompleted, Is.False);
        _release.TrySetResult();

        using var first = await hold;
        using var next = await second;
        Assert.That(await first.Content.ReadAsStringAsync(), Is.EqualTo("2"));
        Assert.That(await next.Content.ReadAsStringAsync(), Is.EqualTo("3"), "the waiting request saw the held request's commit");
    }

    [Test]
    public async Task EndpointThrows_ChangesDiscardedAndLockReleased()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);

        using var failed = await client.PostAsync("/throw", null);
        using var next = await client.PostAsync("/counter", null);

        Assert.That(failed.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(_store.Releases, Is.EqualTo(1));
        Assert.That(await next.Content.ReadAsStringAsync(), Is.EqualTo("2"));
    }

    [Test]
    public async Task CommitInDoubt_Answers500SayingTheOutcomeIsUnknownWithoutRetryAfter()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);
        _store.CommitFailure = new CommitInDoubtException("s", "the arbiter changed");

        using var response = await client.PostAsync("/counter", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(response.Headers.RetryAfter, Is.Null);
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("may or may not have been stored").And.Not.EqualTo("2"));
    }

    [Test]
    public async Task CommitRefusedForNoQuorum_Answers503WithRetryAfter()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);
        _store.CommitFailure = new ClusterUnavailableException(ClusterStoreStatus.NoQuorum, "no quorum", TimeSpan.FromSeconds(2));

        using var response = await client.PostAsync("/counter", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(response.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(2)));
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("no quorum").And.Not.EqualTo("2"));
    }

    [Test]
    public async Task CommitWithLockLost_Answers409AndNextRequestProceeds()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);
        _store.CommitFailure = new LockLostException("s", 1, 2);

        using var refused = await client.PostAsync("/counter", null);
        _store.CommitFailure = null;
        using var next = await client.PostAsync("/counter", null);

        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        Assert.That(await next.Content.ReadAsStringAsync(), Is.EqualTo("2"));
    }

    [Test]
    public async Task CommitOfNewSessionFails_NoCookieIsSet()
    {
        using var client = _sut.Client(cookies: false);
        _store.CommitFailure = new ClusterUnavailableException(ClusterStoreStatus.NoQuorum, "no quorum", TimeSpan.FromSeconds(1));

        using var response = await client.PostAsync("/counter", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(response.Headers.Contains("Set-Cookie"), Is.False);
    }

    [Test]
    public async Task LockedWithRedirectPolicy_Answers307ToTheHolder()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);
        _store.Conflict = new SessionLockedException("s", "node2", "http://127.0.0.1:5002/", LockConflictPolicy.Redirect);

        using var response = await client.PostAsync("/counter?x=1", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.TemporaryRedirect));
        Assert.That(response.Headers.Location, Is.EqualTo(new Uri("http://127.0.0.1:5002/counter?x=1")));
    }

    [Test]
    public async Task LockedWithRedirectPolicyByThisNode_Answers503InsteadOfRedirectingToItself()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);
        _store.Conflict = new SessionLockedException("s", _store.InstanceId, "http://127.0.0.1:5001", LockConflictPolicy.Redirect);

        using var response = await client.PostAsync("/counter", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(response.Headers.RetryAfter, Is.Not.Null);
    }

    [Test]
    public async Task LockedWithFailPolicy_Answers409NamingTheHolder()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);
        _store.Conflict = new SessionLockedException("s", "node2", string.Empty, LockConflictPolicy.Fail);

        using var response = await client.PostAsync("/counter", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("node2"));
    }

    [Test]
    public async Task LockWaitTimedOut_Answers503WithRetryAfter()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);
        _store.Conflict = new SessionLockedException("s", "node2", string.Empty, LockConflictPolicy.Wait, "waited 10 s");

        using var response = await client.PostAsync("/counter", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(response.Headers.RetryAfter, Is.Not.Null);
    }

    [Test]
    public async Task Delete_InvalidatesSessionAndExpiresCookie()
    {
        using var client = _sut.Client();
        await client.PostAsync("/counter", null);

        using var response = await client.DeleteAsync("/session");
        var after = await client.GetStringAsync("/counter");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
        Assert.That(response.Headers.GetValues("Set-Cookie").Single(), Does.Contain("expires=Thu, 01 Jan 1970"));
        Assert.That(_store.Table, Is.Empty);
        Assert.That(after, Is.EqualTo("0"));
    }

    [Test]
    public async Task SessionId_ReadOnNewRequest_CreatesTheSessionWhoseIdTheCookieCarries()
    {
        using var client = _sut.Client(cookies: false);

        using var response = await client.GetAsync("/id");
        var id = await response.Content.ReadAsStringAsync();

        Assert.That(id, Has.Length.EqualTo(26));
        Assert.That(response.Headers.GetValues("Set-Cookie").Single(), Does.Contain("=" + id));
        Assert.That(_store.Table.Contains(id), Is.True);
    }

    [Test]
    public async Task UnknownCookie_WriteCreatesANewSession()
    {
        using var client = _sut.Client(cookies: false);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/counter");
        request.Headers.Add("Cookie", ClusteredSessionOptions.DefaultCookieName + "=0001AAAAAAAAAAAAAAAAAAAAAA");

        using var response = await client.SendAsync(request);

        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("1"));
        Assert.That(response.Headers.GetValues("Set-Cookie").Single(), Does.Not.Contain("0001AAAAAAAAAAAAAAAAAAAAAA"));
    }

    private bool HoldRunning() => Volatile.Read(ref _holding) > 0;
}
