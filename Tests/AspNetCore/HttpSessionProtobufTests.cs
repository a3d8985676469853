using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Multicast.AspNetCore;
using Multicast.Sessions;
using ProtoBuf;

namespace Multicast.Tests.AspNetCore;

/// <summary>Typed values on <c>HttpContext.Session</c>, and what the drop-in answers when a write is refused.</summary>
[Category("Integration")]
public sealed class HttpSessionProtobufTests
{
    [ProtoContract]
    public sealed class Cart
    {
        [ProtoMember(1)]
        public List<string> Items { get; set; } = [];
    }

    private FakeClusterStore _store = null!;
    private TestApp _sut = null!;

    [SetUp]
    public async Task SetUp()
    {
        _store = new FakeClusterStore();
        _sut = await TestApp.StartAsync(b => b.UseStore(_ => _store), Map, o => o.Session.MaxSessionBytes = 1024);
    }

    [TearDown]
    public async Task TearDown() => await _sut.DisposeAsync();

    private static void Map(WebApplication app)
    {
        app.MapPost("/cart/{item}", (HttpContext c, string item) =>
        {
            var cart = c.Session.TryGet<Cart>("cart", out var found) ? found : new Cart();
            cart.Items.Add(item);
            c.Session.Set("cart", cart);
            return cart.Items.Count.ToString();
        });
        app.MapGet("/cart", (HttpContext c) => c.Session.TryGet<Cart>("cart", out var cart) ? string.Join(",", cart.Items) : "")
            .WithSessionAccess(SessionAccess.ReadOnly);
        app.MapPut("/raw/{key}", (HttpContext c, string key, int bytes) =>
        {
            c.Session.Set(key, new byte[bytes]);
            return "written";
        });
        app.MapPost("/not-a-contract", (HttpContext c) => c.Session.Set("x", new Uri("http://example.com/")));
    }

    [Test]
    public async Task SetTryGet_AcrossRequests_KeepsTheTypedCart()
    {
        using var client = _sut.Client();

        await client.PostAsync("/cart/book", null);
        await client.PostAsync("/cart/pen", null);
        var cart = await client.GetStringAsync("/cart");

        Assert.That(cart, Is.EqualTo("book,pen"));
    }

    [Test]
    public async Task TypedSet_SessionWouldExceedMaxSessionBytes_Answers413AndChangesNothing()
    {
        using var client = _sut.Client();
        await client.PostAsync("/cart/book", null);
        var commits = _store.Commits;

        using var refused = await client.PostAsync("/cart/" + new string('x', 1100), null);
        var cart = await client.GetStringAsync("/cart");

        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        Assert.That(await refused.Content.ReadAsStringAsync(), Does.Contain("MaxSessionBytes"));
        Assert.That(cart, Is.EqualTo("book"));
        Assert.That(_store.Commits, Is.EqualTo(commits), "the refused write never reached the store");
        Assert.That(_store.Releases, Is.GreaterThan(0), "the lock was released");
    }

    [Test]
    public async Task RawWrite_CommitOverMaxSessionBytes_Answers413AndKeepsThePreviousState()
    {
        using var client = _sut.Client();
        using var first = await client.PutAsync("/raw/a?bytes=600", null);

        using var second = await client.PutAsync("/raw/b?bytes=600", null);
        using var after = await client.PutAsync("/raw/c?bytes=10", null);

        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge), "refused by the store at commit");
        Assert.That(await second.Content.ReadAsStringAsync(), Does.Not.Contain("written"), "the endpoint's answer is not sent");
        Assert.That(after.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the session is still usable");
        var state = _store.Table.Single();
        Assert.That(state.Attributes.Keys, Is.EquivalentTo(new[] { "a", "c" }));
    }

    [Test]
    public async Task TypedSet_TypeIsNotAContract_FailsWithoutStoring()
    {
        using var client = _sut.Client();

        using var response = await client.PostAsync("/not-a-contract", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
        Assert.That(_store.Commits, Is.Zero);
    }

    [Test]
    public async Task StoreUnavailable_AtBegin_Answers503WithTheStoresRetryAfter()
    {
        using var client = _sut.Client();
        _store.FindFailure = new ClusterUnavailableException(ClusterStoreStatus.NoQuorum, "no quorum", TimeSpan.FromSeconds(7));

        using var response = await client.PostAsync("/cart/book", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(response.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(7)));
    }

    [Test]
    public async Task StoreUnavailable_AtCommit_Answers503WithRetryAfterInsteadOfTheEndpointsAnswer()
    {
        using var client = _sut.Client();
        await client.PostAsync("/cart/book", null);
        _store.CommitFailure = new ClusterUnavailableException(ClusterStoreStatus.NoQuorum, "no quorum", TimeSpan.FromSeconds(3));

        using var response = await client.PostAsync("/cart/pen", null);
        _store.CommitFailure = null;
        var cart = await client.GetStringAsync("/cart");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(response.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(3)));
        Assert.That(cart, Is.EqualTo("book"));
    }
}
