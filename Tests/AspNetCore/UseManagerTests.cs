using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Multicast.AspNetCore;
using Multicast.Sessions;
using SessionOptions = Multicast.Sessions.SessionOptions;

namespace Multicast.Tests.AspNetCore;

[Category("Integration")]
public sealed class UseManagerTests
{
    /// <summary>A custom Manager as the README shows one: observes commits, built with services from DI.</summary>
    public sealed class AuditingManager(IClusterStore store, SessionOptions options, TimeProvider time, ILogger<AuditingManager> logger)
        : SessionManager(store, options, time, logger)
    {
        public ConcurrentQueue<string> Audit { get; } = new();

        public override Task<Session?> BeginRequestAsync(string? id, SessionAccess access, CancellationToken cancellationToken = default)
        {
            Audit.Enqueue($"begin {access}");
            return base.BeginRequestAsync(id, access, cancellationToken);
        }

        protected override void OnChanged(SessionEventArgs e)
        {
            Audit.Enqueue($"changed v{e.Version}");
            base.OnChanged(e);
        }
    }

    private static void MapCounter(WebApplication app) =>
        app.MapPost("/counter", (HttpContext c) =>
        {
            var count = (c.Session.GetInt32("count") ?? 0) + 1;
            c.Session.SetInt32("count", count);
            return count.ToString();
        });

    [Test]
    public async Task UseManager_Generic_RequestsRunThroughTheCustomManager()
    {
        var store = new FakeClusterStore();
        await using var sut = await TestApp.StartAsync(b => b.UseStore(_ => store).UseManager<AuditingManager>(), MapCounter);
        using var client = sut.Client();

        await client.PostAsync("/counter", null);
        var second = await (await client.PostAsync("/counter", null)).Content.ReadAsStringAsync();

        var manager = sut.App.Services.GetRequiredService<AuditingManager>();
        Assert.That(second, Is.EqualTo("2"));
        Assert.That(manager.Audit, Is.EqualTo(new[] { "begin Exclusive", "changed v1", "begin Exclusive", "changed v2" }));
        Assert.That(sut.App.Services.GetRequiredService<SessionManager>(), Is.SameAs(manager));
        Assert.That(sut.App.Services.GetRequiredService<ClusterNode>().Manager, Is.SameAs(manager));
        Assert.That(manager.Store, Is.SameAs(store));
    }

    [Test]
    public async Task UseManager_Factory_BuildsTheManagerOverTheNodesStore()
    {
        var store = new FakeClusterStore();
        IClusterStore? given = null;
        await using var sut = await TestApp.StartAsync(
            b => b.UseStore(_ => store).UseManager((services, s) =>
            {
                given = s;
                return new AuditingManager(s, new SessionOptions(), TimeProvider.System, services.GetRequiredService<ILogger<AuditingManager>>());
            }),
            MapCounter);
        using var client = sut.Client();

        await client.PostAsync("/counter", null);

        var manager = (AuditingManager)sut.App.Services.GetRequiredService<SessionManager>();
        Assert.That(given, Is.SameAs(store));
        Assert.That(manager.Audit, Does.Contain("changed v1"));
    }

    [Test]
    public async Task NoUseManager_PlainSessionManagerIsRegistered()
    {
        var store = new FakeClusterStore();
        await using var sut = await TestApp.StartAsync(b => b.UseStore(_ => store), MapCounter);

        var manager = sut.App.Services.GetRequiredService<SessionManager>();

        Assert.That(manager.GetType(), Is.EqualTo(typeof(SessionManager)));
        Assert.That(sut.App.Services.GetRequiredService<IClusterStore>(), Is.SameAs(store));
    }
}
