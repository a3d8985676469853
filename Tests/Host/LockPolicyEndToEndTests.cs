using System.Net;

namespace Multicast.Tests.Host;

/// <summary>The Redirect conflict policy between node processes.</summary>
[Category("Integration")]
[NonParallelizable]
public sealed class LockPolicyEndToEndTests
{
    [Test]
    public async Task LockHeldOnAnotherNode_RedirectPolicy_Answers307ToTheHolder()
    {
        await using var sut = await TestCluster.StartAsync(3, 1, "--Cluster:ConflictPolicy=Redirect");
        var session = await sut.CreateSessionAsync(sut[1]);
        var hold = sut.SendAsync(sut[2], HttpMethod.Post, "/test/hold", session);
        await Eventually(async () => (await sut.SendAsync(sut[2], HttpMethod.Get, "/test/holding", null)).Body == "1");

        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(sut[3].Url, "/counter?from=3"));
        request.Headers.Add("Cookie", $"{TestCluster.CookieName}={session}");
        using var redirected = await sut.Http.SendAsync(request);
        var onHolder = await sut.SendAsync(sut[2], HttpMethod.Post, "/counter", session);
        await sut.SendAsync(sut[2], HttpMethod.Post, "/test/release", null);
        var held = await hold;
        var after = await sut.IncrementAsync(sut[3], session);

        Assert.That(redirected.StatusCode, Is.EqualTo(HttpStatusCode.TemporaryRedirect));
        Assert.That(redirected.Headers.Location, Is.EqualTo(new Uri(sut[2].Url, "/counter?from=3")));
        Assert.That(onHolder.Status, Is.EqualTo(HttpStatusCode.ServiceUnavailable), "the holder's own node does not redirect to itself");
        Assert.That(held.Body, Is.EqualTo("2"));
        Assert.That(after, Is.EqualTo(3));
    }

    private static async Task Eventually(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail("Timed out waiting for the exclusive request to hold the lock");
            await Task.Delay(50);
        }
    }
}
