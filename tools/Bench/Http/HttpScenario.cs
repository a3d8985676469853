using System.Diagnostics;
using Multicast.Bench.Postgres;
using Multicast.Bench.RoundTrip;
using Multicast.Bench.SessionCost;

namespace Multicast.Bench.Http;

/// <summary>
/// The load checker (tools/LoadCheck, 50% writes) against: a 3-node cluster of real host processes; the same
/// endpoints over ASP.NET Core's non-replicated in-memory session (one process: it cannot serve non-sticky traffic
/// from several); over a PostgreSQL-backed session (3 processes sharing one private PostgreSQL); and, in alternated
/// rounds, 3 of our nodes against 3 ASP.NET Core processes on Redis session (<see cref="RedisComparison"/>), non-sticky
/// and sticky, with the servers' CPU per request. Requests/s and latency percentiles from the load checker.
/// </summary>
internal sealed class HttpScenario : IBenchScenario
{
    public string Name => "http";

    public string Description =>
        "LoadCheck (50% writes) vs 3-node cluster, in-memory ASP.NET session, PostgreSQL session; cluster vs Redis session in alternated rounds "
        + "[--seconds S --clients N --reads PCT --diagnostics 0|1 --classic 0|1 --redis 0|1 --rounds R --warmup S]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var root = RepositoryRoot();
        var hostDll = await HostDllAsync(cancellationToken);
        var loadCheckDll = await EnsureBuiltAsync(root, "tools/LoadCheck/LoadCheck.csproj", "tools/LoadCheck/bin/Release/net10.0/LoadCheck.dll", ["tools/LoadCheck"], cancellationToken);
        var logs = Directory.CreateTempSubdirectory("multicast-bench-http-").FullName;
        var load = new LoadCheckRunner(loadCheckDll, logs)
        {
            Seconds = arguments.GetDouble("seconds", 15),
            Clients = arguments.GetInt("clients", 16),
            Reads = arguments.GetDouble("reads", 50),
        };

        var report = new BenchReport();
        report.Notes.Add($"LoadCheck: {load.Clients} clients, each its own session, {load.Seconds} s, {load.Reads}% GET /counter (read-only) and the rest POST /counter (exclusive, increments), each request to a random node of the variant (sticky: client i always to node i mod 3); requests_per_s = answered requests / load seconds; latencies over every answered request; pass = LoadCheck's lost-update verdict.");
        report.Notes.Add("cluster: 3 host processes (Host/bin/Release), UDP multicast on 127.0.0.1, defaults (ReplicationAcks 1, pessimistic locking, Serilog at Warning). in-memory: baseline processes (tools/Bench serve-baseline --store memory). postgres: 3 baseline processes over one private PostgreSQL (fsync on). Everything shares the machine's 2 cores with the load checker.");
        report.Notes.Add($"process logs: {logs}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };

        var unit = await UdpRoundTrip.MeasureAsync(report, TimeSpan.FromSeconds(2), cancellationToken);
        if (arguments.Get("classic") != "0")
            await ClassicAsync(report, arguments, hostDll, load, logs, http, cancellationToken);
        if (arguments.Get("redis") != "0")
        {
            var comparison = new RedisComparison(hostDll, load, logs, http)
            {
                Rounds = Math.Max(1, arguments.GetInt("rounds", 3)),
                WarmupSeconds = arguments.GetDouble("warmup", 5),
                Diagnostics = arguments.Get("diagnostics") != "0",
            };
            await comparison.RunAsync(report, cancellationToken);
        }
        foreach (var result in report.Results)
        {
            if (result.Figures.TryGetValue("p50_ms", out var p50))
                result.Set("p50_round_trips", p50 * 1000 / unit);
            if (result.Figures.TryGetValue("cpu_us_per_request", out var cpu))
                result.Set("cpu_per_request_round_trips", cpu / unit);
            if (result.Figures.TryGetValue("session_cpu_us_per_request", out var share))
                result.Set("session_cpu_per_request_round_trips", share / unit);
        }
        return report;
    }

    /// <summary>The first comparisons: the cluster (and its ack-interval diagnostic), one in-memory process, PostgreSQL; one load each.</summary>
    private static async Task ClassicAsync(BenchReport report, BenchArguments arguments, string hostDll, LoadCheckRunner load, string logs, HttpClient http,
        CancellationToken cancellationToken)
    {
        double cluster, inMemory, postgres = double.NaN;
        await using (var nodes = await AppGroup.StartClusterAsync("cluster_3_nodes", hostDll, 3, [], logs, http, cancellationToken))
            cluster = Add(report, await load.RunAsync(nodes.Name, nodes, sticky: false, finalCheck: true, report, cancellationToken));
        // Diagnostic: the same cluster with a 0.1 ms ack interval, to show what the delayed acks cost a write.
        if (arguments.Get("diagnostics") != "0")
        {
            await using var nodes = await AppGroup.StartClusterAsync("cluster_3_nodes_ack_interval_0_1ms", hostDll, 3, ["--Cluster:AckInterval=00:00:00.0001"], logs, http, cancellationToken);
            Add(report, await load.RunAsync(nodes.Name, nodes, sticky: false, finalCheck: true, report, cancellationToken));
        }

        await using (var app = await AppGroup.StartBaselineAsync("aspnetcore_in_memory_1_process", 1, ["--store", "memory"], [], logs, http, cancellationToken))
            inMemory = Add(report, await load.RunAsync(app.Name, app, sticky: false, finalCheck: true, report, cancellationToken));

        try
        {
            await using var server = await PostgresServer.StartAsync(cancellationToken: cancellationToken);
            await using (var source = server.CreateDataSource())
                await new PostgresBackend(source).EnsureSchemaAsync(cancellationToken);
            await using var apps = await AppGroup.StartBaselineAsync("postgres_3_processes", 3, ["--store", "postgres", "--postgres", server.ConnectionString], [], logs, http, cancellationToken);
            postgres = Add(report, await load.RunAsync(apps.Name, apps, sticky: false, finalCheck: true, report, cancellationToken));
        }
        catch (InvalidOperationException ex)
        {
            report.Notes.Add($"postgres not measured: {ex.Message}");
        }

        report.Ratios["cluster_vs_inmemory_rps"] = cluster / inMemory;
        report.Ratios["cluster_vs_postgres_rps"] = cluster / postgres;
    }

    private static double Add(BenchReport report, BenchResult result)
    {
        report.Results.Add(result);
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

    /// <summary>The node host's Release build (built first when missing or older than its sources).</summary>
    internal static Task<string> HostDllAsync(CancellationToken cancellationToken) =>
        EnsureBuiltAsync(RepositoryRoot(), "Host/Multicast.Host.csproj", "Host/bin/Release/net10.0/Multicast.Host.dll", ["Host", "Core", "Transports"], cancellationToken);

    /// <summary>Builds the project (Release) unless its output exists and is newer than every source file under <paramref name="sources"/>.</summary>
    internal static async Task<string> EnsureBuiltAsync(string root, string project, string output, string[] sources, CancellationToken cancellationToken)
    {
        var dll = Path.Combine(root, output);
        if (File.Exists(dll) && !sources.SelectMany(s => SourceFiles(Path.Combine(root, s))).Any(f => File.GetLastWriteTimeUtc(f) > File.GetLastWriteTimeUtc(dll)))
            return dll;
        Console.Error.WriteLine($"http: building {project} ...");
        using var build = Process.Start("dotnet", ["build", Path.Combine(root, project), "-c", "Release", "-nologo", "-v", "q"]);
        await build.WaitForExitAsync(cancellationToken);
        return build.ExitCode == 0 && File.Exists(dll) ? dll : throw new InvalidOperationException($"could not build {project}");
    }

    private static IEnumerable<string> SourceFiles(string directory) =>
        Directory.EnumerateFiles(directory, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith(".csproj", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal) || f.EndsWith(".proto", StringComparison.Ordinal))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal) && !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
}
