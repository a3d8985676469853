using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Multicast.Tests.Host;
using Multicast.Tests.TestSupport;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>
/// Three node processes with <c>Cluster:Transport=ZeroMq</c> and a static peer list (no multicast at all: the
/// deployment for clouds and containers), serving one session from every node.
/// </summary>
[Category("Integration")]
public sealed class ZeroMqHostEndToEndTests
{
    private const string CookieName = ".Multicast.Session";
    private readonly HttpClient _http = new(new SocketsHttpHandler { UseCookies = false }) { Timeout = TimeSpan.FromSeconds(30) };
    private readonly List<NodeProcess> _nodes = [];

    [TearDown]
    public async Task StopNodes()
    {
        foreach (var node in _nodes)
            await node.DisposeAsync();
        _nodes.Clear();
    }

    [OneTimeTearDown]
    public void DisposeClient() => _http.Dispose();

    [Test]
    public async Task Counter_StaticPeersOverZeroMq_EveryNodeServesTheSameSession()
    {
        var ports = Enumerable.Range(0, 3).Select(_ => NodeProcess.FreeTcpPort()).ToArray();
        var peers = ports.Select((p, i) => $"--Cluster:ZeroMq:Peers:{i}=tcp://127.0.0.1:{p}").ToArray();
        var cluster = $"zmq-e2e-{Guid.NewGuid():N}";
        for (var i = 0; i < 3; i++)
        {
            _nodes.Add(NodeProcess.Start($"zmq{i + 1}",
            [
                "--Cluster:Transport=ZeroMq",
                $"--Cluster:ClusterId={cluster}",
                $"--Cluster:ZeroMq:PublishEndpoint=tcp://127.0.0.1:{ports[i]}",
                "--Cluster:ZeroMq:UnicastEndpoint=tcp://127.0.0.1:*",
                "--Cluster:ZeroMq:BeaconEnabled=false",
                .. peers,
            ]));
        }
        foreach (var node in _nodes)
            await node.WaitHealthyAsync(_http, TimeSpan.FromSeconds(60));
        foreach (var node in _nodes)
            await Eventually.Until(() => Members(node) == 3, $"{node.NodeId} sees 3 members", TimeSpan.FromSeconds(30));

        var (created, session) = await Post(_nodes[0], null);
        var (second, _) = await Post(_nodes[1], session);
        var (third, _) = await Post(_nodes[2], session);

        Assert.That(created, Is.EqualTo(1));
        Assert.That(second, Is.EqualTo(2));
        Assert.That(third, Is.EqualTo(3));
        var status = await _http.GetFromJsonAsync<JsonElement>(new Uri(_nodes[0].Url, "/cluster"));
        Assert.That(status.GetProperty("transport").GetString(), Is.EqualTo("ZeroMq"));
    }

    private int Members(NodeProcess node)
    {
        var status = _http.GetFromJsonAsync<JsonElement>(new Uri(node.Url, "/cluster")).GetAwaiter().GetResult();
        return status.GetProperty("members").GetArrayLength();
    }

    private async Task<(int Value, string Session)> Post(NodeProcess node, string? session)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(node.Url, "/counter"));
        if (session is not null)
            request.Headers.Add("Cookie", $"{CookieName}={session}");
        using var response = await _http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"POST /counter on {node.NodeId}: {body}\n{node.Output}");
        var created = response.Headers.TryGetValues("Set-Cookie", out var cookies)
            ? cookies.Select(c => c.Split(';')[0]).FirstOrDefault(c => c.StartsWith(CookieName + "=", StringComparison.Ordinal))?[(CookieName.Length + 1)..]
            : null;
        return (int.Parse(body, CultureInfo.InvariantCulture), session ?? created ?? throw new AssertionException("the first POST /counter sets the session cookie"));
    }
}
