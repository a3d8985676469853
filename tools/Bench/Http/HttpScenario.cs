using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Multicast.Bench.Postgres;
using Multicast.Bench.SessionCost;

namespace Multicast.Bench.Http;

/// <summary>
/// The load checker (tools/LoadCheck, 50% writes, non-sticky: every request to a random node) against: a 3-node
/// cluster of real host processes; the same endpoints over ASP.NET Core's non-replicated in-memory session (one
/// process: it cannot serve non-sticky traffic from several); and over a PostgreSQL-backed session (3 processes
/// sharing one private PostgreSQL). Requests/s and latency percentiles from the load checker.
/// </summary>
internal sealed class HttpScenario : IBenchScenario
{
    public string Name => "http";

    public string Description => "LoadCheck (50% writes, non-sticky) vs 3-node cluster, in-memory ASP.NET session, PostgreSQL session [--seconds S --clients N --reads PCT --diagnostics 0|1]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var seconds = arguments.GetDouble("seconds", 15);
        var clients = arguments.GetInt("clients", 16);
        var reads = arguments.GetDouble("reads", 50);
        var root = RepositoryRoot();
        var hostDll = await EnsureBuiltAsync(root, "Host/Multicast.Host.csproj", "Host/bin/Release/net10.0/Multicast.Host.dll", cancellationToken);
        var loadCheckDll = await EnsureBuiltAsync(root, "tools/LoadCheck/LoadCheck.csproj", "tools/LoadCheck/bin/Release/net10.0/LoadCheck.dll", cancellationToken);
        var benchDll = typeof(HttpScenario).Assembly.Location;
        var logs = Directory.CreateTempSubdirectory("multicast-bench-http-").FullName;

        var report = new BenchReport();
        report.Notes.Add($"LoadCheck: {clients} clients, each its own session, {seconds} s, {reads}% GET /counter (read-only) and the rest POST /counter (exclusive, increments), each request to a random node of the variant; requests_per_s = answered requests / load seconds; latencies over every answered request; pass = LoadCheck's lost-update verdict.");
        report.Notes.Add("cluster: 3 host processes (Host/bin/Release), UDP multicast on 127.0.0.1, defaults (ReplicationAcks 1, pessimistic locking, Serilog at Warning). in-memory: one baseline process (tools/Bench serve-baseline --store memory). postgres: 3 baseline processes over one private PostgreSQL (fsync on). Everything shares the machine's 2 cores with the load checker.");
        report.Notes.Add($"process logs: {logs}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };

        double inMemory, postgres = double.NaN;
        var cluster = await ClusterAsync(report, "cluster_3_nodes", hostDll, loadCheckDll, http, [], clients, seconds, reads, logs, cancellationToken);
        // Diagnostic: the same cluster with a 0.1 ms ack interval, to show what the delayed acks cost a write.
        if (arguments.Get("diagnostics") != "0")
        {
            await ClusterAsync(report, "cluster_3_nodes_ack_interval_0_1ms", hostDll, loadCheckDll, http, ["--Cluster:AckInterval=00:00:00.0001"],
                clients, seconds, reads, logs, cancellationToken);
        }

        {
            var url = new Uri($"http://127.0.0.1:{FreeTcpPort()}/");
            await using var app = AppProcess.Start(benchDll, ["serve-baseline", "--store", "memory", "--urls", url.ToString().TrimEnd('/')], url, Path.Combine(logs, "memory.log"));
            await app.WaitHealthyAsync(http, TimeSpan.FromSeconds(30), cancellationToken);
            inMemory = await LoadAsync(report, "aspnetcore_in_memory_1_process", loadCheckDll, [app], clients, seconds, reads, logs, cancellationToken);
        }

        try
        {
            await using var server = await PostgresServer.StartAsync(cancellationToken: cancellationToken);
            await using (var source = server.CreateDataSource())
                await new PostgresBackend(source).EnsureSchemaAsync(cancellationToken);
            var apps = new List<AppProcess>();
            try
            {
                for (var i = 1; i <= 3; i++)
                {
                    var url = new Uri($"http://127.0.0.1:{FreeTcpPort()}/");
                    apps.Add(AppProcess.Start(benchDll, ["serve-baseline", "--store", "postgres", "--urls", url.ToString().TrimEnd('/'), "--postgres", server.ConnectionString],
                        url, Path.Combine(logs, $"postgres{i}.log")));
                }
                foreach (var app in apps)
                    await app.WaitHealthyAsync(http, TimeSpan.FromSeconds(30), cancellationToken);
                postgres = await LoadAsync(report, "postgres_3_processes", loadCheckDll, apps, clients, seconds, reads, logs, cancellationToken);
            }
            finally
            {
                foreach (var app in apps)
                    await app.DisposeAsync();
            }
        }
        catch (InvalidOperationException ex)
        {
            report.Notes.Add($"postgres not measured: {ex.Message}");
        }

        report.Ratios["cluster_vs_inmemory_rps"] = cluster / inMemory;
        report.Ratios["cluster_vs_postgres_rps"] = cluster / postgres;
        return report;
    }

    private static async Task<double> ClusterAsync(BenchReport report, string name, string hostDll, string loadCheckDll, HttpClient http, string[] extra,
        int clients, double seconds, double reads, string logs, CancellationToken cancellationToken)
    {
        var group = Transport.BenchNetwork.RandomGroup().ToString();
        var port = Transport.BenchNetwork.FreeUdpPort();
        var apps = new List<AppProcess>();
        try
        {
            for (var i = 1; i <= 3; i++)
            {
                var url = new Uri($"http://127.0.0.1:{FreeTcpPort()}/");
                apps.Add(AppProcess.Start(hostDll,
                [
                    $"--Urls={url.ToString().TrimEnd('/')}", $"--Cluster:NodeId=node{i}", "--Cluster:Transport=Udp",
                    $"--Cluster:Udp:Group={group}", $"--Cluster:Udp:Port={port}", "--Serilog:MinimumLevel:Default=Warning", .. extra,
                ], url, Path.Combine(logs, $"{name}.node{i}.log")));
            }
            foreach (var app in apps)
                await app.WaitHealthyAsync(http, TimeSpan.FromSeconds(60), cancellationToken);
            return await LoadAsync(report, name, loadCheckDll, apps, clients, seconds, reads, logs, cancellationToken);
        }
        finally
        {
            foreach (var app in apps)
                await app.DisposeAsync();
        }
    }

    private static async Task<double> LoadAsync(BenchReport report, string name, string loadCheckDll, IReadOnlyList<AppProcess> apps, int clients, double seconds, double reads,
        string logs, CancellationToken cancellationToken)
    {
        Console.Error.WriteLine($"http: {name}: LoadCheck for {seconds} s ...");
        var json = Path.Combine(logs, $"{name}.json");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[]
        {
            loadCheckDll, "--urls", string.Join(',', apps.Select(a => a.Url.ToString())), "--clients", clients.ToString(CultureInfo.InvariantCulture),
            "--duration", seconds.ToString(CultureInfo.InvariantCulture), "--reads", reads.ToString(CultureInfo.InvariantCulture), "--json", json, "--progress", "1000",
        })
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start LoadCheck");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(logs, $"{name}.loadcheck.log"), await output + await error, cancellationToken);
        var verdict = (await output).Split('\n').LastOrDefault(l => l.StartsWith("PASS", StringComparison.Ordinal) || l.StartsWith("FAIL", StringComparison.Ordinal)) ?? "(no verdict)";
        report.Notes.Add($"{name}: LoadCheck exit {process.ExitCode}: {verdict}");
        if (!File.Exists(json))
            return double.NaN;
        var result = report.Add(name);
        using var document = JsonDocument.Parse(await File.ReadAllBytesAsync(json, cancellationToken));
        foreach (var figure in document.RootElement.EnumerateObject())
            result.Set(figure.Name, figure.Value.ValueKind == JsonValueKind.Number ? figure.Value.GetDouble() : double.NaN);
        return result.Figures.GetValueOrDefault("requests_per_s", double.NaN);
    }

    internal static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Multicast.sln")))
                return directory.FullName;
        }
        throw new InvalidOperationException("Multicast.sln not found above the Bench binary");
    }

    /// <summary>Builds the project (Release) unless its output exists.</summary>
    internal static async Task<string> EnsureBuiltAsync(string root, string project, string output, CancellationToken cancellationToken)
    {
        var dll = Path.Combine(root, output);
        if (File.Exists(dll))
            return dll;
        Console.Error.WriteLine($"http: building {project} ...");
        using var build = Process.Start("dotnet", ["build", Path.Combine(root, project), "-c", "Release", "-nologo", "-v", "q"]);
        await build.WaitForExitAsync(cancellationToken);
        return build.ExitCode == 0 && File.Exists(dll) ? dll : throw new InvalidOperationException($"could not build {project}");
    }

    private static int FreeTcpPort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
