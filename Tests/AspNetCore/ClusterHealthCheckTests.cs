using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Multicast.AspNetCore;
using Multicast.Sessions;

namespace Multicast.Tests.AspNetCore;

[Category("Integration")]
public sealed class ClusterHealthCheckTests
{
    private static void MapHealth(WebApplication app) =>
        app.MapHealthChecks("/healthz").WithSessionAccess(SessionAccess.None);

    [TestCase(ClusterStoreStatus.Ready, HealthStatus.Healthy)]
    [TestCase(ClusterStoreStatus.Degraded, HealthStatus.Degraded)]
    [TestCase(ClusterStoreStatus.NoQuorum, HealthStatus.Unhealthy)]
    [TestCase(ClusterStoreStatus.Leaving, HealthStatus.Unhealthy)]
    [TestCase(ClusterStoreStatus.Joining, HealthStatus.Unhealthy)]
    [TestCase(ClusterStoreStatus.Stopped, HealthStatus.Unhealthy)]
    public async Task CheckHealth_StoreStatus_MapsToTheHealthStatus(ClusterStoreStatus status, HealthStatus expected)
    {
        var store = new FakeClusterStore();
        await using var app = await TestApp.StartAsync(b => b.UseStore(_ => store), MapHealth);
        store.StatusOverride = status;
        var service = app.App.Services.GetRequiredService<HealthCheckService>();

        var report = await service.CheckHealthAsync();

        var entry = report.Entries[ClusteredSessionHealthChecks.Name];
        Assert.That(entry.Status, Is.EqualTo(expected), entry.Description);
        Assert.That(entry.Data["status"], Is.EqualTo(status.ToString()));
        Assert.That(entry.Tags, Does.Contain(ClusteredSessionHealthChecks.Tag));
    }

    [Test]
    public async Task MapHealthChecks_NodeJoiningThenReady_Answers503Then200()
    {
        var store = new FakeClusterStore { HoldJoin = true };
        await using var app = await TestApp.StartAsync(b => b.UseStore(_ => store), MapHealth, waitReady: false);
        using var client = app.Client();

        using var joining = await client.GetAsync("/healthz");
        store.Joined.SetResult();
        var node = app.App.Services.GetRequiredService<ClusterNode>();
        await TestApp.Eventually(() => node.IsReady, TimeSpan.FromSeconds(10), "the node did not become ready");
        using var ready = await client.GetAsync("/healthz");

        Assert.That(joining.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await ready.Content.ReadAsStringAsync(), Is.EqualTo("Healthy"));
    }

    [Test]
    public async Task AddClusteredSession_CalledTwice_RegistersTheCheckOnce()
    {
        var store = new FakeClusterStore();
        await using var app = await TestApp.StartAsync(b => b.Services.AddClusteredSession().UseStore(_ => store), MapHealth);

        var report = await app.App.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync();

        Assert.That(report.Entries.Keys, Is.EqualTo(new[] { ClusteredSessionHealthChecks.Name }));
    }
}
