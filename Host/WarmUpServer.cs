using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;

namespace Multicast.Host;

/// <summary>
/// Kestrel, with a few read-only requests run through the application's pipeline in process before it listens. A
/// (re)started node's first requests otherwise pay for building the route matcher and compiling the middleware at
/// once: with several of them arriving together on a loaded machine the process stalled for seconds (thread-pool
/// threads all busy compiling the same methods), its channel's timers ran late, and even its 503 "not ready" took
/// more than 2 s (issue 10, store bug N9). The requests change nothing: GET /health and a read-only GET /counter
/// without a session cookie.
/// </summary>
internal sealed partial class WarmUpServer(IServer inner, TimeProvider time, ILogger<WarmUpServer> logger) : IServer
{
    private static readonly string[] Paths = ["/health", "/counter"];

    public IFeatureCollection Features => inner.Features;

    public async Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken)
        where TContext : notnull
    {
        var started = time.GetTimestamp();
        foreach (var path in Paths)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await RunAsync(application, path);
        }
        LogWarmedUp(time.GetElapsedTime(started).TotalMilliseconds);
        await inner.StartAsync(application, cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => inner.StopAsync(cancellationToken);

    public void Dispose() => inner.Dispose();

    private async Task RunAsync<TContext>(IHttpApplication<TContext> application, string path)
        where TContext : notnull
    {
        var features = new FeatureCollection();
        features.Set<IHttpRequestFeature>(new HttpRequestFeature { Method = "GET", Scheme = "http", Protocol = "HTTP/1.1", Path = path });
        features.Set<IHttpResponseFeature>(new HttpResponseFeature());
        features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(Stream.Null));
        features.Set<IHttpRequestLifetimeFeature>(new HttpRequestLifetimeFeature());
        features.Set<IHttpConnectionFeature>(new HttpConnectionFeature
        {
            ConnectionId = "warm-up",
            LocalIpAddress = IPAddress.Loopback,
            RemoteIpAddress = IPAddress.Loopback,
        });
        var context = application.CreateContext(features);
        Exception? failure = null;
        try
        {
            await application.ProcessRequestAsync(context);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A warm-up that fails only costs the real first request its compilation again.
            failure = ex;
            LogWarmUpFailed(path, ex);
        }
        application.DisposeContext(context, failure);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Request pipeline warmed up in {Milliseconds:0} ms before listening")]
    private partial void LogWarmedUp(double milliseconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warm-up request GET {Path} failed")]
    private partial void LogWarmUpFailed(string path, Exception exception);
}
