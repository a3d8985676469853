using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Multicast.AspNetCore;
using Multicast.Sessions;

namespace Multicast.Tests.AspNetCore;

[Category("Integration")]
public sealed class ClusteredSessionOptionsTests
{
    private static void MapCounter(WebApplication app)
    {
        app.MapPost("/counter", (HttpContext c) =>
        {
            var count = (c.Session.GetInt32("count") ?? 0) + 1;
            c.Session.SetInt32("count", count);
            return count.ToString();
        });
        app.MapGet("/health", (ClusterNode node) => node.IsReady ? Results.Ok() : Results.StatusCode(503)).WithSessionAccess(SessionAccess.None);
    }

    [Test]
    public async Task Cookie_Configured_CarriesNameDomainPathAndFlags()
    {
        var store = new FakeClusterStore();
        await using var sut = await TestApp.StartAsync(b => b.UseStore(_ => store), MapCounter, o =>
        {
            o.Cookie.Name = "sid";
            o.Cookie.Domain = ".example.com";
            o.Cookie.Path = "/app";
            o.Cookie.SecurePolicy = CookieSecurePolicy.Always;
            o.Cookie.SameSite = SameSiteMode.Strict;
        });
        using var client = sut.Client(cookies: false);

        using var response = await client.PostAsync("/counter", null);

        var cookie = response.Headers.GetValues("Set-Cookie").Single().ToLowerInvariant();
        Assert.That(cookie, Does.StartWith("sid="));
        Assert.That(cookie, Does.Contain("domain=.example.com").And.Contain("path=/app").And.Contain("secure").And.Contain("samesite=strict").And.Contain("httponly"));
    }

    [Test]
    public async Task DefaultAccess_None_UndeclaredEndpointTakesNoSession([Values] bool declared)
    {
        var store = new FakeClusterStore();
        await using var sut = await TestApp.StartAsync(b => b.UseStore(_ => store), app =>
        {
            var read = app.MapGet("/read", (HttpContext c) => c.Session.IsAvailable.ToString());
            if (declared)
                read.WithSessionAccess(SessionAccess.ReadOnly);
        }, o => o.DefaultAccess = SessionAccess.None);
        using var client = sut.Client();

        var available = await client.GetStringAsync("/read");

        Assert.That(available, Is.EqualTo(declared ? "True" : "False"));
    }

    [Test]
    public async Task NodeJoining_SessionRequestsAnswer503UntilReady()
    {
        var store = new FakeClusterStore { HoldJoin = true };
        await using var sut = await TestApp.StartAsync(b => b.UseStore(_ => store), MapCounter, waitReady: false);
        using var client = sut.Client();

        using var joining = await client.PostAsync("/counter", null);
        using var healthJoining = await client.GetAsync("/health");
        store.Joined.SetResult();
        var node = sut.App.Services.GetRequiredService<ClusterNode>();
        await TestApp.Eventually(() => node.IsReady, TimeSpan.FromSeconds(10), "the node did not become ready");
        using var ready = await client.PostAsync("/counter", null);

        Assert.That(joining.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(joining.Headers.RetryAfter, Is.Not.Null);
        Assert.That(healthJoining.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task NodeCannotJoin_HostStopsAndTheNodeHoldsTheError()
    {
        var store = new FakeClusterStore { StartFailure = new InvalidOperationException("cannot bind") };
        await using var sut = TestApp.Build(b => b.UseStore(_ => store), MapCounter);
        var lifetime = sut.Services.GetRequiredService<Microsoft.Extensions.Hosting.IHostApplicationLifetime>();
        var node = sut.Services.GetRequiredService<ClusterNode>();

        try
        {
            await sut.StartAsync();
        }
        catch (OperationCanceledException)
        {
            // the failed join stopped the host while it was still starting the server
        }
        await TestApp.Eventually(() => lifetime.ApplicationStopping.IsCancellationRequested, TimeSpan.FromSeconds(10), "the host did not stop");

        Assert.That(node.Started.IsFaulted, Is.True);
        Assert.That(node.Started.Exception!.GetBaseException().Message, Is.EqualTo("cannot bind"));
        Assert.That(node.IsReady, Is.False);
    }

    [Test]
    public async Task Stop_WhileStillJoining_StopsCleanlyWithoutLeaving()
    {
        var store = new FakeClusterStore { HoldJoin = true };
        var sut = await TestApp.StartAsync(b => b.UseStore(_ => store), MapCounter, waitReady: false);
        var node = sut.App.Services.GetRequiredService<ClusterNode>();

        Assert.DoesNotThrowAsync(() => sut.DisposeAsync().AsTask());

        Assert.That(node.Started.IsCanceled, Is.True);
        Assert.That(node.IsReady, Is.False);
    }

    [Test]
    public void Start_InvalidOptions_FailsNamingTheKey()
    {
        var store = new FakeClusterStore();

        var ex = Assert.ThrowsAsync<OptionsValidationException>(() =>
            TestApp.StartAsync(b => b.UseStore(_ => store), MapCounter, o => o.Cluster.ReplicationAcks = -1));

        Assert.That(ex!.Message, Does.Contain("Cluster:ReplicationAcks"));
    }

    [Test]
    public void UseClusteredSession_WithoutAddClusteredSession_ThrowsSayingWhatToCall()
    {
        var builder = WebApplication.CreateSlimBuilder();
        using var app = builder.Build();

        var ex = Assert.Throws<InvalidOperationException>(() => app.UseClusteredSession());

        Assert.That(ex!.Message, Does.Contain("AddClusteredSession"));
    }

    [Test]
    public async Task Metrics_CommitsAndConflicts_AppearInTheSnapshot()
    {
        var store = new FakeClusterStore();
        await using var sut = await TestApp.StartAsync(b => b.UseStore(_ => store), MapCounter);
        using var client = sut.Client();
        await client.PostAsync("/counter", null);
        await client.PostAsync("/counter", null);
        store.Conflict = new Multicast.Sessions.SessionLockedException("s", "n2", string.Empty, Multicast.Sessions.LockConflictPolicy.Fail);
        await client.PostAsync("/counter", null);

        var snapshot = sut.App.Services.GetRequiredService<ClusterMetrics>().Snapshot();

        Assert.That(snapshot["multicast.commits"], Is.EqualTo(2.0));
        Assert.That(snapshot["multicast.lock.conflicts"], Is.EqualTo(1.0));
        Assert.That(snapshot["multicast.sessions"], Is.EqualTo(1.0));
        Assert.That(snapshot["multicast.members"], Is.EqualTo(1.0));
    }
}
