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
        app.MapPost("/login", async (HttpContext c) =>
        {
            await c.RegenerateSessionIdAsync();
            c.Session.SetString("user", "alice");
            return Results.NoContent();
        });
        app.MapGet("/user", (HttpContext c) => c.Session.GetString("user") ?? "").WithSessionAccess(SessionAccess.ReadOnly);
    }

    private static async Task<(HttpStatusCode Status, string Body, string? Cookie)> SendAsync(TestApp app, HttpMethod method, string path, string? cookie)
    {
        using var client = app.Client(cookies: false);
        using var request = new HttpRequestMessage(method, path);
        if (cookie is not null)
            request.Headers.Add("Cookie", cookie);
        using var response = await client.SendAsync(request);
        var set = response.Headers.TryGetValues("Set-Cookie", out var values) ? values.Single().Split(';')[0] : null;
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), set);
    }

    [Test]
    public async Task RegenerateSessionId_OnTheOtherNode_MovesTheSessionToANewIdEverywhere()
    {
        var (_, _, old) = await SendAsync(_app1, HttpMethod.Post, "/counter", null);

        var (status, _, renewed) = await SendAsync(_app2, HttpMethod.Post, "/login", old);
        var (_, oldCount, _) = await SendAsync(_app1, HttpMethod.Get, "/counter", old);
        var (_, user, _) = await SendAsync(_app1, HttpMethod.Get, "/user", renewed);
        var (_, newCount, again) = await SendAsync(_app1, HttpMethod.Post, "/counter", renewed);

        Assert.That(status, Is.EqualTo(HttpStatusCode.NoContent));
        Assert.That(renewed, Is.Not.Null.And.Not.EqualTo(old), "the answer sets the new id's cookie");
        Assert.That(oldCount, Is.EqualTo("0"), "the old id no longer finds the session");
        Assert.That(user, Is.EqualTo("alice"), "a write after the move in the same request is kept");
        Assert.That(newCount, Is.EqualTo("2"), "the values moved with the session");
        Assert.That(again, Is.Null, "the new id is a known session: no new cookie");
        foreach (var app in new[] { _app1, _app2 })
        {
            var table = app.App.Services.GetRequiredService<ClusterNode>().Manager.Table;
            await TestApp.Eventually(() => table.Count == 1, TimeSpan.FromSeconds(10), "every node holds the session under its new id only");
            Assert.That(table.Contains(renewed!.Split('=')[1]), Is.True);
        }
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
