using System.Net;
using System.Net.Http.Headers;

namespace Multicast.Tests.Host;

/// <summary>What a .NET team checks on day one, against real node processes: the standard /health and /metrics,
/// session id rotation across nodes, and bad input over HTTP.</summary>
[Category("Integration")]
public sealed class HostHttpEndToEndTests
{
    private TestCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task StartCluster() =>
        _cluster = await TestCluster.StartAsync(3, replicationAcks: 1, "--Session:MaxSessionBytes=4096", "--Kestrel:Limits:MaxRequestBodySize=65536");

    [OneTimeTearDown]
    public async Task StopCluster() => await _cluster.DisposeAsync();

    [Test]
    public async Task Health_ReadyNode_Answers200OkThroughTheHealthCheck()
    {
        using var response = await _cluster.Http.GetAsync(new Uri(_cluster[1].Url, "/health"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("ok\n"));
    }

    [Test]
    public async Task Metrics_AfterACommit_PrometheusExpositionOfTheMulticastMeter()
    {
        await _cluster.CreateSessionAsync(_cluster[2]);

        using var response = await _cluster.Http.GetAsync(new Uri(_cluster[2].Url, "/metrics"));
        var text = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(text, Does.Contain("# TYPE multicast_commits_total counter"));
        Assert.That(text, Does.Contain("multicast_commit_duration_milliseconds_bucket"));
        Assert.That(text, Does.Contain("multicast_members"));
    }

    [Test]
    public async Task RegenerateSessionId_OnAnotherNode_OldIdFindsNothingAnywhereNewIdKeepsTheValues()
    {
        var old = await _cluster.CreateSessionAsync(_cluster[1]);
        await _cluster.IncrementAsync(_cluster[2], old);

        var (status, body, renewed) = await _cluster.SendAsync(_cluster[2], HttpMethod.Post, "/session/regenerate", old);

        Assert.That(status, Is.EqualTo(HttpStatusCode.NoContent), body);
        Assert.That(renewed, Is.Not.Null.And.Not.EqualTo(old), "the answer sets the new id's cookie");
        foreach (var node in _cluster.Nodes)
        {
            Assert.That(await _cluster.ReadAsync(node, old), Is.Zero, $"the old id finds nothing on {node.NodeId}");
            Assert.That(await _cluster.ReadEventuallyAsync(node, renewed!, 2), Is.EqualTo(2), $"the new id holds the counter on {node.NodeId}");
        }
        Assert.That(await _cluster.IncrementAsync(_cluster[3], renewed!), Is.EqualTo(3));
    }

    [Test]
    public async Task PutSession_CommitOverMaxSessionBytes_Answers413AndNothingChanges()
    {
        var session = await _cluster.CreateSessionAsync(_cluster[1]);
        var (first, _, _) = await _cluster.SendAsync(_cluster[1], HttpMethod.Put, "/session/a", session, new string('a', 3000));

        var (second, body, _) = await _cluster.SendAsync(_cluster[2], HttpMethod.Put, "/session/b", session, new string('b', 3000));
        var (read, _, _) = await _cluster.SendAsync(_cluster[3], HttpMethod.Get, "/session/b", session);

        Assert.That(first, Is.EqualTo(HttpStatusCode.NoContent));
        Assert.That(second, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge), body);
        Assert.That(body, Does.Contain("MaxSessionBytes"));
        Assert.That(read, Is.EqualTo(HttpStatusCode.NotFound), "the refused value is nowhere");
        Assert.That(await _cluster.IncrementAsync(_cluster[2], session), Is.EqualTo(2), "the session is unchanged and usable");
    }

    [Test]
    public async Task PutSession_BodyOverMaxSessionBytes_Answers413BeforeReadingIt()
    {
        var session = await _cluster.CreateSessionAsync(_cluster[1]);

        var (status, body, _) = await _cluster.SendAsync(_cluster[1], HttpMethod.Put, "/session/big", session, new string('x', 5000));

        Assert.That(status, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge), body);
        Assert.That(await _cluster.IncrementAsync(_cluster[1], session), Is.EqualTo(2));
    }

    [Test]
    public async Task PutSession_BodyOverKestrelsLimit_RefusedAndTheNodeStaysHealthy()
    {
        var session = await _cluster.CreateSessionAsync(_cluster[3]);
        using var request = new HttpRequestMessage(HttpMethod.Put, new Uri(_cluster[3].Url, "/session/huge"));
        request.Headers.Add("Cookie", $"{TestCluster.CookieName}={session}");
        // Chunked, so the endpoint cannot refuse it by its length: Kestrel's MaxRequestBodySize stops the read.
        request.Content = new StreamContent(new MemoryStream(new byte[200_000]));
        request.Headers.TransferEncodingChunked = true;
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/plain");

        using var response = await _cluster.Http.SendAsync(request);
        using var health = await _cluster.Http.GetAsync(new Uri(_cluster[3].Url, "/health"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _cluster.IncrementAsync(_cluster[3], session), Is.EqualTo(2), "the lock was released, nothing stored");
        Assert.That(_cluster[3].HasExited, Is.False);
    }
}
