using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;
using Multicast.Host;

namespace Multicast.Tests.Host;

public sealed class WarmUpServerTests
{
    [Test]
    public async Task StartAsync_BeforeTheServerListens_RunsReadOnlyRequestsThroughThePipeline()
    {
        var events = new List<string>();
        var inner = new RecordingServer(events);
        var application = new RecordingApplication(events, fail: false);
        using var sut = new WarmUpServer(inner, TimeProvider.System, NullLogger<WarmUpServer>.Instance);

        await sut.StartAsync(application, CancellationToken.None);

        Assert.That(events, Is.EqualTo(new[] { "GET /health", "GET /counter", "listen" }));
        Assert.That(application.Disposed, Is.EqualTo(2), "every warm-up context is disposed");
    }

    [Test]
    public async Task StartAsync_AWarmUpRequestThrows_TheServerStillListens()
    {
        var events = new List<string>();
        var application = new RecordingApplication(events, fail: true);
        using var sut = new WarmUpServer(new RecordingServer(events), TimeProvider.System, NullLogger<WarmUpServer>.Instance);

        await sut.StartAsync(application, CancellationToken.None);

        Assert.That(events[^1], Is.EqualTo("listen"));
        Assert.That(application.Failures, Is.EqualTo(2), "each failure is handed to DisposeContext");
    }

    private sealed class RecordingServer(List<string> events) : IServer
    {
        public IFeatureCollection Features { get; } = new FeatureCollection();

        public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken)
            where TContext : notnull
        {
            events.Add("listen");
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void Dispose()
        {
        }
    }

    private sealed class RecordingApplication(List<string> events, bool fail) : IHttpApplication<IFeatureCollection>
    {
        public int Disposed { get; private set; }

        public int Failures { get; private set; }

        public IFeatureCollection CreateContext(IFeatureCollection contextFeatures) => contextFeatures;

        public Task ProcessRequestAsync(IFeatureCollection context)
        {
            var request = context.Get<IHttpRequestFeature>()!;
            events.Add($"{request.Method} {request.Path}");
            return fail ? Task.FromException(new InvalidOperationException("broken endpoint")) : Task.CompletedTask;
        }

        public void DisposeContext(IFeatureCollection context, Exception? exception)
        {
            Disposed++;
            if (exception is not null)
                Failures++;
        }
    }
}
