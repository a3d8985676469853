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

/// <summary>The checker's verdict against a counter server that keeps every increment and one that loses some.</summary>
[Category("Integration")]
public sealed partial class LoadCheckRunTests
{
    private const string Cookie = ".Multicast.Session";

    /// <summary>A /counter server; <paramref name="loseEvery"/> &gt; 0 forgets every n-th increment after answering it.</summary>
    private static async Task<WebApplication> StartCounterServerAsync(int loseEvery)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var counters = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
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
                counters.AddOrUpdate(id, 0, (_, v) => v - 1); // acknowledged, then lost
            return value.ToString(CultureInfo.InvariantCulture);
        });
        app.MapGet("/counter", (HttpContext c) =>
            c.Request.Cookies.TryGetValue(Cookie, out var id) && counters.TryGetValue(id, out var v) ? v.ToString(CultureInfo.InvariantCulture) : "0");
        await app.StartAsync();
        return app;
    }

    private static string Url(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

    [TestCase(0, 0)]
    [TestCase(7, 1)]
    public async Task Run_AgainstCounterServer_VerdictMatchesWhetherUpdatesAreLost(int loseEvery, int expectedExitCode)
    {
        await using var server = await StartCounterServerAsync(loseEvery);
        using var output = new StringWriter();

        var exitCode = await LoadCheckRun.MainAsync(["--urls", Url(server), "--clients", "3", "--duration", "1", "--progress", "0.5"], output, output);

        var lines = output.ToString().TrimEnd().Split('\n');
        Assert.That(exitCode, Is.EqualTo(expectedExitCode), output.ToString());
        Assert.That(lines[^1], Does.StartWith(expectedExitCode == 0 ? "PASS: no lost update" : "FAIL:"));
        if (expectedExitCode != 0)
            Assert.That(output.ToString(), Does.Contain("lost update"));
    }

    [Test]
    public async Task Run_WithReadsAndJson_WritesRequestFigures()
    {
        await using var server = await StartCounterServerAsync(loseEvery: 0);
        using var output = new StringWriter();
        var json = Path.Combine(Path.GetTempPath(), $"loadcheck-{Guid.NewGuid():N}.json");
        try
        {
            // --reads 100: after its first (creating) POST every request of a client is a read.
            var exitCode = await LoadCheckRun.MainAsync(
                ["--urls", Url(server), "--clients", "2", "--duration", "2", "--progress", "1", "--reads", "100", "--json", json], output, output);

            Assert.That(exitCode, Is.Zero, output.ToString());
            var figures = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, double>>(await File.ReadAllTextAsync(json))!;
            Assert.That(figures["writes_acked"], Is.EqualTo(2), "one creating POST per client");
            Assert.That(figures["reads_answered"], Is.GreaterThan(0));
            Assert.That(figures["requests_per_s"], Is.EqualTo((figures["reads_answered"] + figures["writes_acked"]) / figures["seconds"]).Within(1e-6));
            Assert.That(figures["p99_ms"], Is.GreaterThanOrEqualTo(figures["p50_ms"]));
            Assert.That(figures["pass"], Is.EqualTo(1));
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Test]
    public async Task Run_WithReadsAgainstALosingServer_StillFails()
    {
        // Every increment is forgotten after it is answered: the final check finds fewer than were acknowledged.
        await using var server = await StartCounterServerAsync(loseEvery: 1);
        using var output = new StringWriter();
        var json = Path.Combine(Path.GetTempPath(), $"loadcheck-{Guid.NewGuid():N}.json");
        try
        {
            var exitCode = await LoadCheckRun.MainAsync(
                ["--urls", Url(server), "--clients", "2", "--duration", "1", "--progress", "1", "--reads", "50", "--json", json], output, output);

            Assert.That(exitCode, Is.EqualTo(1), output.ToString());
            var figures = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, double>>(await File.ReadAllTextAsync(json))!;
            Assert.That(figures["pass"], Is.Zero);
            Assert.That(figures["violations"], Is.GreaterThan(0));
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Test]
    public async Task Run_ReadsOutOfRange_ExitsTwo()
    {
        using var output = new StringWriter();

        var exitCode = await LoadCheckRun.MainAsync(["--urls", "http://127.0.0.1:1/", "--reads", "150"], output, output);

        Assert.That(exitCode, Is.EqualTo(2));
        Assert.That(output.ToString(), Does.Contain("--reads"));
    }

    [Test]
    public async Task Run_BadArguments_ExitsTwoWithUsage()
    {
        using var output = new StringWriter();

        var exitCode = await LoadCheckRun.MainAsync(["--clients", "many"], output, output);

        Assert.That(exitCode, Is.EqualTo(2));
        Assert.That(output.ToString(), Does.Contain("usage: LoadCheck"));
    }
}
