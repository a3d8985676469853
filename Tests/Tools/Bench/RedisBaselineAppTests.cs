using System.Net;
using Multicast.Bench.Http;
using Multicast.Bench.Redis;

namespace Multicast.Tests.Tools.Bench;

/// <summary>
/// The Redis side of the benchmarks: a private redis-server, and ASP.NET Core session apps on it (Bench
/// serve-baseline --store redis) that share sessions across processes through one Data Protection key ring.
/// Needs Debian's redis-server (bash tools/test.sh installs it).
/// </summary>
[Category("Integration")]
public sealed class RedisBaselineAppTests
{
    [Test]
    public async Task ServeBaseline_RedisStore_ProcessesShareOneSession()
    {
        await using var redis = await StartRedisAsync();
        var logs = Directory.CreateTempSubdirectory("multicast-test-redis-").FullName;
        try
        {
            var keys = Path.Combine(logs, "keys");
            SharedKeyRing.Create(keys);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            await using var sut = await AppGroup.StartBaselineAsync("redis", 2, ["--store", "redis", "--redis", redis.Configuration, "--keys", keys], [redis.ProcessId], logs, http, CancellationToken.None);

            using var created = await http.PostAsync(new Uri(sut.Apps[0].Url, "counter"), null);
            var cookie = created.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0]).Single(c => c.StartsWith(".Multicast.Session=", StringComparison.Ordinal));
            // ASP.NET Core's session commits after the answer is written, so the other process sees a write shortly
            // after its answer, not with it: wait for the fact.
            await UntilAnswersAsync(http, sut.Apps[1].Url, cookie, "1");
            var onSecond = await SendAsync(http, HttpMethod.Post, sut.Apps[1].Url, cookie);
            await UntilAnswersAsync(http, sut.Apps[0].Url, cookie, "2");

            Assert.That(await created.Content.ReadAsStringAsync(), Is.EqualTo("1"));
            Assert.That(onSecond, Is.EqualTo("2"), "the second process read the first one's cookie and session");
            Assert.That(sut.ServerProcessIds, Does.Contain(redis.ProcessId), "redis-server's CPU counts for the side");
        }
        finally
        {
            Directory.Delete(logs, recursive: true);
        }
    }

    [Test]
    public async Task DisposeAsync_RunningServer_StopsIt()
    {
        var sut = await StartRedisAsync();
        var port = sut.Port;

        await sut.DisposeAsync();

        using var client = new System.Net.Sockets.TcpClient();
        Assert.That(async () => await client.ConnectAsync(IPAddress.Loopback, port), Throws.InstanceOf<System.Net.Sockets.SocketException>());
    }

    private static async Task<RedisServer> StartRedisAsync()
    {
        try
        {
            return await RedisServer.StartAsync();
        }
        catch (InvalidOperationException ex)
        {
            Assert.Fail($"{ex.Message} (apt-get install redis-server; bash tools/test.sh does it as root)");
            throw;
        }
    }

    /// <summary>Polls GET /counter on <paramref name="node"/> (every 20 ms, 20 s at most) until it answers <paramref name="expected"/>.</summary>
    private static async Task UntilAnswersAsync(HttpClient http, Uri node, string cookie, string expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        string answer;
        while ((answer = await SendAsync(http, HttpMethod.Get, node, cookie)) != expected)
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"{node} still answers {answer}, not {expected}: the session is not shared");
            await Task.Delay(20);
        }
    }

    private static async Task<string> SendAsync(HttpClient http, HttpMethod method, Uri node, string cookie)
    {
        using var request = new HttpRequestMessage(method, new Uri(node, "counter"));
        request.Headers.Add("Cookie", cookie);
        using var response = await http.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), node.ToString());
        return await response.Content.ReadAsStringAsync();
    }
}
