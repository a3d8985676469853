using System.Diagnostics;
using System.Net;
using System.Text;
using Multicast.Tests.Host;

namespace Multicast.Tests.Samples;

/// <summary>
/// The packages as an outside application takes them: <c>dotnet pack</c> the libraries into a folder feed (a version
/// of this run's own), build <c>samples/CartApp</c> against that feed, run two copies as a cluster and use it.
/// </summary>
[Category("Integration")]
public sealed class CartAppTests
{
    private static readonly string[] PackageIds = ["Multicast.Core", "Multicast.Transports", "Multicast.AspNetCore"];
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private readonly string _version = $"0.1.0-test.{Guid.NewGuid():N}"[..22];
    private readonly List<Process> _apps = [];
    private readonly StringBuilder _log = new();
    private string _work = null!;

    [SetUp]
    public void SetUp() => _work = Directory.CreateTempSubdirectory("multicast-sample-").FullName;

    [TearDown]
    public void TearDown()
    {
        foreach (var app in _apps)
        {
            if (!app.HasExited)
                app.Kill(entireProcessTree: true);
            app.WaitForExit();
            app.Dispose();
        }
        Directory.Delete(_work, recursive: true);
        // This run's packages leave the machine's package cache as they came.
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in PackageIds)
        {
            var package = Path.Combine(cache, id.ToLowerInvariant());
            var folder = Path.Combine(package, _version);
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
            if (Directory.Exists(package) && !Directory.EnumerateFileSystemEntries(package).Any())
                Directory.Delete(package);
        }
    }

    [Test]
    public async Task CartApp_FromTheLocalFeed_TwoCopiesShareTheTypedCartAndRotateTheId()
    {
        var (root, configuration) = Repository();
        var feed = Path.Combine(_work, "feed");
        await RunAsync("dotnet", ["pack", Path.Combine(root, "Multicast.sln"), "-c", configuration, "--no-build", $"-p:PackageVersion={_version}", "-o", feed]);
        Assert.That(PackageIds.Select(id => File.Exists(Path.Combine(feed, $"{id}.{_version}.nupkg"))), Is.All.True, $"dotnet pack made every library package:\n{_log}");
        CopyDirectory(Path.Combine(root, "samples"), Path.Combine(_work, "samples"));
        var output = Path.Combine(_work, "out");
        await RunAsync("dotnet", ["build", Path.Combine(_work, "samples", "CartApp", "CartApp.csproj"), "-c", "Release",
            $"-p:MulticastVersion={_version}", $"-p:RestoreAdditionalProjectSources={feed}", "-o", output]);

        var group = $"239.{Random.Shared.Next(256)}.{Random.Shared.Next(256)}.{Random.Shared.Next(1, 255)}";
        var port = Random.Shared.Next(20000, 60000);
        var cluster = $"sample-{Guid.NewGuid():N}";
        var shop1 = Start(output, "shop1", group, port, cluster);
        var shop2 = Start(output, "shop2", group, port, cluster);
        using var http = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { Timeout = TimeSpan.FromSeconds(30) };
        await WaitHealthyAsync(http, shop1);
        await WaitHealthyAsync(http, shop2);

        var (_, _, cookie) = await SendAsync(http, HttpMethod.Post, new Uri(shop1, "/cart/book"), null);
        var (added, cart, _) = await SendAsync(http, HttpMethod.Post, new Uri(shop2, "/cart/pen"), cookie);
        var (login, _, rotated) = await SendAsync(http, HttpMethod.Post, new Uri(shop1, "/login/alice"), cookie);
        var (_, user, _) = await SendAsync(http, HttpMethod.Get, new Uri(shop2, "/whoami"), rotated);
        var (_, kept, _) = await SendAsync(http, HttpMethod.Get, new Uri(shop2, "/cart"), rotated);
        var (_, old, _) = await SendAsync(http, HttpMethod.Get, new Uri(shop2, "/cart"), cookie);

        Assert.That(cookie, Is.Not.Null, "the first write set the session cookie");
        Assert.That(added, Is.EqualTo(HttpStatusCode.OK), cart);
        Assert.That(cart, Does.Contain("\"book\"").And.Contain("\"pen\""), "the other copy had the cart");
        Assert.That(login, Is.EqualTo(HttpStatusCode.NoContent));
        Assert.That(rotated, Is.Not.Null.And.Not.EqualTo(cookie), "sign-in moved the session to a new id");
        Assert.That(user, Is.EqualTo("alice"));
        Assert.That(kept, Does.Contain("\"pen\""), "the cart moved with the session");
        Assert.That(old, Is.EqualTo("[]"), "the old id finds nothing");
    }

    private static (string Root, string Configuration) Repository()
    {
        var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)); // Tests/bin/<Configuration>/net10.0
        return (framework.Parent!.Parent!.Parent!.Parent!.FullName, framework.Parent!.Name);
    }

    private Uri Start(string output, string nodeId, string group, int port, string cluster)
    {
        var url = new Uri($"http://127.0.0.1:{NodeProcess.FreeTcpPort()}");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(output, "CartApp.dll"), "--urls", url.GetLeftPart(UriPartial.Authority), "--NodeId", nodeId,
                     $"--Udp:Group={group}", $"--Udp:Port={port}", $"--ClusterId={cluster}", "--Logging:LogLevel:Default=Warning" })
            info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => Append($"[{nodeId}] {e.Data}");
        process.ErrorDataReceived += (_, e) => Append($"[{nodeId}] {e.Data}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _apps.Add(process);
        return url;
    }

    /// <summary>Healthy, not just up: with ReplicationAcks 1 a node that sees no peer reports Degraded.</summary>
    private async Task WaitHealthyAsync(HttpClient http, Uri app)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                if (await http.GetStringAsync(new Uri(app, "/healthz")) == "Healthy")
                    return;
            }
            catch (HttpRequestException)
            {
                // not listening yet, or 503 while joining
            }
            if (DateTime.UtcNow > deadline || _apps.Any(p => p.HasExited))
                Assert.Fail($"{app} did not report Healthy:\n{_log}");
            await Task.Delay(PollInterval);
        }
    }

    private static async Task<(HttpStatusCode Status, string Body, string? Cookie)> SendAsync(HttpClient http, HttpMethod method, Uri uri, string? cookie)
    {
        using var request = new HttpRequestMessage(method, uri);
        if (cookie is not null)
            request.Headers.Add("Cookie", cookie);
        using var response = await http.SendAsync(request);
        var set = response.Headers.TryGetValues("Set-Cookie", out var values) ? values.First().Split(';')[0] : cookie;
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), set);
    }

    private async Task RunAsync(string file, string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(BuildTimeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
        }
        Append($"$ {file} {string.Join(' ', args)}\n{await stdout}{await stderr}");
        if (!process.HasExited || process.ExitCode != 0)
            Assert.Fail($"{file} {string.Join(' ', args)} failed:\n{await stdout}\n{await stderr}");
    }

    private void Append(string? line)
    {
        lock (_log)
            _log.AppendLine(line);
    }

    private static void CopyDirectory(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, dir);
            if (relative.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj"))
                continue;
            Directory.CreateDirectory(Path.Combine(to, relative));
        }
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.Split(Path.DirectorySeparatorChar).Any(p => p is "bin" or "obj") || relative.EndsWith(".nupkg", StringComparison.Ordinal))
                continue;
            File.Copy(file, Path.Combine(to, relative));
        }
    }
}
