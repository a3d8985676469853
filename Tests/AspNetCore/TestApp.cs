using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Multicast.AspNetCore;

namespace Multicast.Tests.AspNetCore;

/// <summary>A WebApplication on 127.0.0.1:0 with the clustered session over a given store.</summary>
internal sealed class TestApp : IAsyncDisposable
{
    private TestApp(WebApplication app, Uri address)
    {
        App = app;
        Address = address;
    }

    public WebApplication App { get; }

    public Uri Address { get; }

    public static async Task<TestApp> StartAsync(
        Action<ClusteredSessionBuilder> useStore,
        Action<WebApplication> map,
        Action<ClusteredSessionOptions>? configure = null,
        bool waitReady = true)
    {
        var app = Build(useStore, map, configure);
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        var result = new TestApp(app, address);
        if (waitReady)
        {
            var node = app.Services.GetRequiredService<ClusterNode>();
            await Eventually(() => node.IsReady, TimeSpan.FromSeconds(20), "the node did not become ready");
        }
        return result;
    }

    /// <summary>The application, not started.</summary>
    public static WebApplication Build(Action<ClusteredSessionBuilder> useStore, Action<WebApplication> map, Action<ClusteredSessionOptions>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        useStore(builder.Services.AddClusteredSession(o =>
        {
            o.Cluster.NodeId = "test";
            configure?.Invoke(o);
        }));
        var app = builder.Build();
        app.UseClusteredSession();
        map(app);
        return app;
    }

    /// <summary>A client with its own cookie jar.</summary>
    public HttpClient Client(bool cookies = true) =>
        new(new HttpClientHandler { UseCookies = cookies, AllowAutoRedirect = false }) { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(30) };

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or the deadline passes (then fails with <paramref name="what"/>).</summary>
    public static async Task Eventually(Func<bool> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > timeout)
                Assert.Fail($"Timed out after {timeout.TotalSeconds:0.#} s: {what}");
            await Task.Delay(20);
        }
    }
}
