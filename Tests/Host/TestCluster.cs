using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Multicast.Tests.Host;

/// <summary>N node processes on loopback with a random multicast group and port, test endpoints on.</summary>
internal sealed partial class TestCluster : IAsyncDisposable
{
    /// <summary>How often a wait loop re-checks its condition (it gives up at its deadline).</summary>
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    public const string CookieName = ".Multicast.Session";

    private TestCluster(IReadOnlyList<NodeProcess> nodes)
    {
        Nodes = nodes;
    }

    public IReadOnlyList<NodeProcess> Nodes { get; }

    public HttpClient Http { get; } = new(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(30) };

    public NodeProcess this[int number] => Nodes[number - 1];

    public static Task<TestCluster> StartAsync(int count, int replicationAcks = 1, params string[] extra) =>
        StartAsync(count, "Udp", replicationAcks, extra);

    /// <summary>Starts <paramref name="count"/> nodes over UDP multicast (a random group and port) or ZeroMQ (free
    /// loopback ports, every node given every PUB endpoint), in a cluster id of their own.</summary>
    public static async Task<TestCluster> StartAsync(int count, string transport, int replicationAcks, params string[] extra)
    {
        string[] common =
        [
            $"--Cluster:Transport={transport}",
            $"--Cluster:ClusterId=test-{Guid.NewGuid():N}",
            $"--Cluster:ReplicationAcks={replicationAcks}",
            "--Host:EnableTestEndpoints=true",
            .. extra,
        ];
        var perNode = new List<string[]>();
        if (transport == "ZeroMq")
        {
            var publish = Enumerable.Range(0, count).Select(_ => $"tcp://127.0.0.1:{NodeProcess.FreeTcpPort()}").ToArray();
            var peers = publish.Select((p, i) => $"--Cluster:ZeroMq:Peers:{i}={p}").ToArray();
            foreach (var p in publish)
                perNode.Add([$"--Cluster:ZeroMq:PublishEndpoint={p}", "--Cluster:ZeroMq:BeaconEnabled=false", .. peers]);
        }
        else
        {
            var group = $"239.{Random.Shared.Next(256)}.{Random.Shared.Next(256)}.{Random.Shared.Next(1, 255)}";
            var port = Random.Shared.Next(20000, 60000);
            for (var i = 0; i < count; i++)
                perNode.Add([$"--Cluster:Udp:Group={group}", $"--Cluster:Udp:Port={port}"]);
        }
        var nodes = new List<NodeProcess>();
        var cluster = new TestCluster(nodes);
        try
        {
            for (var i = 1; i <= count; i++)
                nodes.Add(NodeProcess.Start($"node{i}", [.. common, .. perNode[i - 1]]));
            foreach (var node in nodes)
                await node.WaitHealthyAsync(cluster.Http, TimeSpan.FromSeconds(60));
            await cluster.WaitForMembersAsync(count, TimeSpan.FromSeconds(30));
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }

    /// <summary>Waits until every running node's view has <paramref name="members"/> members.</summary>
    public async Task WaitForMembersAsync(int members, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        foreach (var node in Nodes.Where(n => !n.HasExited))
        {
            while (true)
            {
                var status = await StatusAsync(node);
                if (status.GetProperty("members").GetArrayLength() == members)
                    break;
                if (DateTime.UtcNow > deadline)
                    Assert.Fail($"{node.NodeId} sees {status.GetProperty("members")} instead of {members} members:\n{node.Output}");
                await Task.Delay(PollInterval);
            }
        }
    }

    public async Task<JsonElement> StatusAsync(NodeProcess node) =>
        await Http.GetFromJsonAsync<JsonElement>(new Uri(node.Url, "/cluster"));

    /// <summary>Sends a request carrying <paramref name="session"/>'s cookie; returns the status, the body and the session id the answer set (if any).</summary>
    public async Task<(HttpStatusCode Status, string Body, string? NewSession)> SendAsync(NodeProcess node, HttpMethod method, string path, string? session, string? body = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, new Uri(node.Url, path));
        if (session is not null)
            request.Headers.Add("Cookie", $"{CookieName}={session}");
        if (body is not null)
            request.Content = new StringContent(body);
        using var response = await Http.SendAsync(request, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        string? created = null;
        if (response.Headers.TryGetValues("Set-Cookie", out var cookies))
        {
            created = cookies.Select(c => c.Split(';')[0]).Where(c => c.StartsWith(CookieName + "=", StringComparison.Ordinal))
                .Select(c => c[(CookieName.Length + 1)..]).FirstOrDefault();
        }
        return (response.StatusCode, text, created);
    }

    /// <summary>POST /counter; asserts 200 and returns the new value.</summary>
    public async Task<int> IncrementAsync(NodeProcess node, string session)
    {
        var (status, body, _) = await SendAsync(node, HttpMethod.Post, "/counter", session);
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK), $"POST /counter on {node.NodeId}: {body}");
        return int.Parse(body, CultureInfo.InvariantCulture);
    }

    /// <summary>GET /counter (read-only); asserts 200.</summary>
    public async Task<int> ReadAsync(NodeProcess node, string session)
    {
        var (status, body, _) = await SendAsync(node, HttpMethod.Get, "/counter", session);
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK), $"GET /counter on {node.NodeId}: {body}");
        return int.Parse(body, CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// GET /counter until it answers <paramref name="expected"/> (a read-only request answers the latest version
    /// the node has applied; a node that did not acknowledge the commit applies it a moment later); returns the last answer.
    /// </summary>
    public async Task<int> ReadEventuallyAsync(NodeProcess node, string session, int expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var value = await ReadAsync(node, session);
            if (value == expected || DateTime.UtcNow > deadline)
                return value;
            await Task.Delay(20);
        }
    }

    /// <summary>Creates a session on <paramref name="node"/> (its owner) with the counter at 1.</summary>
    public async Task<string> CreateSessionAsync(NodeProcess node)
    {
        var (status, body, session) = await SendAsync(node, HttpMethod.Post, "/counter", null);
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK), body);
        Assert.That(session, Is.Not.Null, "the first POST /counter sets the session cookie");
        Assert.That(body, Is.EqualTo("1"));
        return session!;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
            await node.DisposeAsync();
        Http.Dispose();
    }
}
