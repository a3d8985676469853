using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Multicast.Tests.Tools;

/// <summary>
/// An in-process <c>/counter</c> server on a free loopback port for the load tools' tests: <c>POST /counter</c>
/// increments the caller's counter (a new session and cookie when it has none) and answers the new value;
/// <c>GET /counter</c> answers it. With <c>loseEvery</c> &gt; 0 it forgets every n-th increment after answering it.
/// </summary>
internal sealed class CounterServer : IAsyncDisposable
{
    public const string Cookie = ".Multicast.Session";

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, int> _counters;
    private int _dropped;

    private CounterServer(WebApplication app, ConcurrentDictionary<string, int> counters)
    {
        _app = app;
        _counters = counters;
    }

    public string Url => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    /// <summary>Sessions created on this server.</summary>
    public int Sessions => _counters.Count;

    /// <summary>Increments answered and then forgotten.</summary>
    public int Dropped => Volatile.Read(ref _dropped);

    public static async Task<CounterServer> StartAsync(int loseEvery = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var counters = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var server = new CounterServer(app, counters);
        var requests = 0;
        app.MapPost("/counter", (HttpContext c) =>
        {
            if (!c.Request.Cookies.TryGetValue(Cookie, out var id) || !counters.ContainsKey(id))
            {
                id = Guid.NewGuid().ToString("N");
                counters[id] = 0;
                c.Response.Cookies.Append(Cookie, id);
            }
            var value = counters.AddOrUpdate(id, 1, (_, v) => v + 1);
            if (loseEvery > 0 && Interlocked.Increment(ref requests) % loseEvery == 0)
            {
                counters.AddOrUpdate(id, 0, (_, v) => v - 1); // acknowledged, then lost
                Interlocked.Increment(ref server._dropped);
            }
            return value.ToString(CultureInfo.InvariantCulture);
        });
        app.MapGet("/counter", (HttpContext c) =>
            c.Request.Cookies.TryGetValue(Cookie, out var id) && counters.TryGetValue(id, out var v) ? v.ToString(CultureInfo.InvariantCulture) : "0");
        await app.StartAsync();
        return server;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
