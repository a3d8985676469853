using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Multicast.LoadCheck;

namespace Multicast.Tests.Tools.LoadCheck;

/// <summary>The fault tests' options: a 503 counts as "not applied" (--strict), any 5xx fails (--fail-on-5xx), a slow
/// request fails (--max-latency).</summary>
public sealed partial class LoadCheckRunTests
{
    /// <summary>A /counter server that answers every <paramref name="every"/>-th increment of an existing session with
    /// <paramref name="status"/> and <paramref name="body"/> (after applying it when <paramref name="apply"/>), after waiting <paramref name="delay"/>.</summary>
    private static async Task<WebApplication> StartFailingServerAsync(int every, int status, bool apply, TimeSpan delay = default,
        string body = "The session change could not be stored: applied but not confirmed", bool staleReads = false)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var counters = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var requests = 0;
        app.MapPost("/counter", async (HttpContext c) =>
        {
            if (!c.Request.Cookies.TryGetValue(CounterServer.Cookie, out var id) || !counters.ContainsKey(id))
            {
                id = Guid.NewGuid().ToString("N");
                counters[id] = 0;
                c.Response.Cookies.Append(CounterServer.Cookie, id);
                return Results.Text(counters.AddOrUpdate(id, 1, (_, v) => v + 1).ToString(CultureInfo.InvariantCulture));
            }
            if (Interlocked.Increment(ref requests) % every == 0)
            {
                if (apply)
                    counters.AddOrUpdate(id, 1, (_, v) => v + 1);
                if (delay > TimeSpan.Zero)
                    await Task.Delay(delay); // the server under test is slow: that is what it simulates
                return Results.Text(body, statusCode: status);
            }
            return Results.Text(counters.AddOrUpdate(id, 1, (_, v) => v + 1).ToString(CultureInfo.InvariantCulture));
        });
        // With staleReads every read answers one below the count, as a node serving from a copy that missed the last commit.
        app.MapGet("/counter", (HttpContext c) =>
            c.Request.Cookies.TryGetValue(CounterServer.Cookie, out var id) && counters.TryGetValue(id, out var v)
                ? (staleReads ? Math.Max(0, v - 1) : v).ToString(CultureInfo.InvariantCulture)
                : "0");
        await app.StartAsync();
        return app;
    }

    private static string UrlOf(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    private static async Task<(int ExitCode, string Output)> RunStrictAsync(WebApplication server, params string[] extra)
    {
        using var output = new StringWriter();
        var code = await LoadCheckRun.MainAsync(["--urls", UrlOf(server), "--clients", "2", "--duration", "3", "--progress", "1", .. extra], output, output);
        return (code, output.ToString());
    }

    [Test]
    public async Task Strict_A503ThatWasApplied_IsAPhantomUpdate()
    {
        await using var server = await StartFailingServerAsync(every: 2, status: 503, apply: true);

        var lenient = await RunStrictAsync(server);
        var strict = await RunStrictAsync(server, "--strict");

        Assert.That(lenient.ExitCode, Is.Zero, "without --strict such a 503 is an unknown outcome:\n" + lenient.Output);
        Assert.That(strict.ExitCode, Is.EqualTo(1), strict.Output);
        Assert.That(strict.Output, Does.Contain("phantom update"));
    }

    [Test]
    public async Task Strict_A503ThatWasNotApplied_Passes()
    {
        await using var server = await StartFailingServerAsync(every: 2, status: 503, apply: false);

        var (exitCode, output) = await RunStrictAsync(server, "--strict");

        Assert.That(exitCode, Is.Zero, output);
        Assert.That(output, Does.Contain("PASS: no lost update"));
    }

    [Test]
    public async Task FailOn5xx_AnyServerError_IsAViolation()
    {
        await using var server = await StartFailingServerAsync(every: 1, status: 500, apply: false);

        var (exitCode, output) = await RunStrictAsync(server, "--strict", "--fail-on-5xx");

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain("answered 500"));
    }

    [Test]
    public async Task MaxLatency_ASlowRequest_IsAViolation()
    {
        await using var server = await StartFailingServerAsync(every: 1, status: 503, apply: false, delay: TimeSpan.FromMilliseconds(400));

        var (exitCode, output) = await RunStrictAsync(server, "--strict", "--max-latency", "0.2");

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain("(limit 200 ms, sent "));
    }

    /// <summary>The host's readiness gate (ClusteredSessionMiddleware) while a node joins or leaves: the endpoint did not run.</summary>
    private const string NotReady = "This node is not ready: it is joining the cluster or leaving it.";

    [Test]
    public async Task AllowNotReady_TheRestartingNodesOwn503_IsNotAViolation()
    {
        await using var server = await StartFailingServerAsync(every: 2, status: 503, apply: false, body: NotReady);

        var allowed = await RunStrictAsync(server, "--strict", "--fail-on-5xx", "--allow-not-ready");
        var strict = await RunStrictAsync(server, "--strict", "--fail-on-5xx");

        Assert.That(allowed.ExitCode, Is.Zero, "a 503 'not ready' is allowed, and counted as not applied:\n" + allowed.Output);
        Assert.That(allowed.Output, Does.Contain("PASS: no lost update"));
        Assert.That(allowed.Output, Does.Match(@"[1-9]\d* answers 5xx"), "still counted among the 5xx answers");
        Assert.That(strict.ExitCode, Is.EqualTo(1), "without --allow-not-ready it is a 5xx like any other:\n" + strict.Output);
        Assert.That(strict.Output, Does.Contain("answered 503: This node is not ready"));
    }

    [Test]
    public async Task AllowNotReady_AnyOther503_IsStillAViolation()
    {
        await using var server = await StartFailingServerAsync(every: 2, status: 503, apply: false,
            body: "Node 'node1' is in a minority partition: 1 of the 3 members of the last primary view are reachable (no quorum).");

        var (exitCode, output) = await RunStrictAsync(server, "--strict", "--fail-on-5xx", "--allow-not-ready");

        Assert.That(exitCode, Is.EqualTo(1), output);
        Assert.That(output, Does.Contain("answered 503: Node 'node1' is in a minority partition"));
    }

    [Test]
    public async Task CheckReads_AReadBelowTheClientsAcknowledgedCount_IsAStaleRead()
    {
        await using var server = await StartFailingServerAsync(every: int.MaxValue, status: 503, apply: false, staleReads: true);

        // --check none: the final read of every session would see the stale count too; only the reads under load are checked here.
        var plain = await RunStrictAsync(server, "--strict", "--reads", "50", "--check", "none");
        var checkedReads = await RunStrictAsync(server, "--strict", "--reads", "50", "--check", "none", "--check-reads");

        Assert.That(plain.ExitCode, Is.Zero, "without --check-reads reads are only counted:\n" + plain.Output);
        Assert.That(checkedReads.ExitCode, Is.EqualTo(1), checkedReads.Output);
        Assert.That(checkedReads.Output, Does.Contain("stale read"));
    }
}
