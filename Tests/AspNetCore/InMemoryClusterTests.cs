using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Multicast.AspNetCore;
using Multicast.Sessions;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.AspNetCore;

/// <summary>Two applications in one process sharing sessions over the in-memory transport, the real channel and store.</summary>
[Category("Integration")]
public sealed class InMemoryClusterTests
{
    private TestApp _app1 = null!;
    private TestApp _app2 = null!;

    [SetUp]
    public async Task SetUp()
    {
        var hub = new InMemoryHub();
        _app1 = await TestApp.StartAsync(b => b.UseInMemory(hub), Map, o => o.Cluster.NodeId = "a1");
        _app2 = await TestApp.StartAsync(b => b.UseInMemory(hub), Map, o => o.Cluster.NodeId = "a2");
        var node1 = _app1.App.Services.GetRequiredService<ClusterNode>();
        await TestApp.Eventually(() => ((Multicast.Stores.ArbitratedClusterStore)node1.Store).View.Members.Count == 2, TimeSpan.FromSeconds(20), "the two nodes did not see each other");
    }

    [TearDown]
    public async Task TearDown()
    {
        await _app2.DisposeAsync();
        await _app1.DisposeAsync();
    }

    private static void Map(WebApplication app)
    {
        app.MapPost("/counter", (HttpContext c) =>
        {
            var count = (c.Session.GetInt32("count") ?? 0) + 1;
            c.Session.SetInt32("count", count);
            return count.ToString();
        });
        app.MapGet("/counter", (HttpContext c) => (c.Session.GetInt32("count") ?? 0).ToString()).WithSessionAccess(SessionAccess.ReadOnly);
    }

    [Test]
    public async Task Session_CreatedOnOneApp_IsIncrementedOnTheOther()
    {
        using var client1 = _app1.Client(cookies: false);
        using var client2 = _app2.Client(cookies: false);
        using var created = await client1.PostAsync("/counter", null);
        var cookie = created.Headers.GetValues("Set-Cookie").Single().Split(';')[0];

        using var request = new HttpRequestMessage(HttpMethod.Post, "/counter");
        request.Headers.Add("Cookie", cookie);
        using var incremented = await client2.SendAsync(request);

        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(incremented.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await incremented.Content.ReadAsStringAsync(), Is.EqualTo("2"));
        Assert.That(incremented.Headers.Contains("Set-Cookie"), Is.False, "the other node used the same session");
    }

    [Test]
    public async Task Snapshot_OfOneNode_CountsOnlyItsOwnChannel()
    {
        using var client1 = _app1.Client();
        await client1.PostAsync("/counter", null);

        var snapshot = _app1.App.Services.GetRequiredService<ClusterMetrics>().Snapshot();

        Assert.That(snapshot["multicast.members"], Is.EqualTo(2.0));
        Assert.That(snapshot["multicast.commits"], Is.EqualTo(1.0));
        Assert.That(snapshot, Does.ContainKey("multicast.channel.datagrams_sent"));
        Assert.That(snapshot, Does.ContainKey("multicast.store.applied"));
    }
}
