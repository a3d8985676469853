using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Multicast.Bench.Postgres;

/// <summary>
/// A private PostgreSQL for one benchmark run: initdb into a temporary directory, started on a free port on
/// 127.0.0.1 (socket directory inside the data directory), stopped and deleted on dispose. Runs the server as
/// the <c>postgres</c> user when the bench runs as root (postgres refuses root).
/// </summary>
internal sealed class PostgresServer : IAsyncDisposable
{
    public const string DefaultBinDirectory = "/usr/lib/postgresql/15/bin";

    private readonly string _bin;
    private readonly string _directory;
    private readonly bool _asPostgresUser;

    private PostgresServer(string bin, string directory, int port, bool asPostgresUser)
    {
        _bin = bin;
        _directory = directory;
        Port = port;
        _asPostgresUser = asPostgresUser;
    }

    public int Port { get; }

    /// <summary>Trust authentication on loopback only; no pooling surprises: Npgsql's pool is on, as an app would have it.</summary>
    public string ConnectionString => $"Host=127.0.0.1;Port={Port};Username=bench;Database=postgres;Pooling=true;Maximum Pool Size=64;No Reset On Close=true";

    /// <summary>Initialises and starts a server; throws with the server's output when it cannot.</summary>
    public static async Task<PostgresServer> StartAsync(string? bin = null, CancellationToken cancellationToken = default)
    {
        bin ??= Environment.GetEnvironmentVariable("MULTICAST_PG_BIN") ?? DefaultBinDirectory;
        if (!File.Exists(Path.Combine(bin, "initdb")))
            throw new InvalidOperationException($"PostgreSQL not found in {bin} (install Debian's postgresql, or set MULTICAST_PG_BIN)");
        var directory = Path.Combine(Path.GetTempPath(), $"multicast-bench-pg-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var asPostgres = Environment.UserName == "root";
        if (asPostgres)
            await RunAsync("chown", ["postgres:postgres", directory], cancellationToken);
        var server = new PostgresServer(bin, directory, Transport.BenchNetwork.FreeUdpPort(), asPostgres);
        try
        {
            await server.ToolAsync("initdb", ["-D", server.DataDirectory, "-U", "bench", "-A", "trust", "--no-sync", "-E", "UTF8"], cancellationToken);
            var settings = string.Join(' ',
                $"-p {server.Port.ToString(CultureInfo.InvariantCulture)}", "-c listen_addresses=127.0.0.1", $"-k {directory}",
                "-c shared_buffers=128MB", "-c max_connections=200");
            await server.ToolAsync("pg_ctl", ["-D", server.DataDirectory, "-l", Path.Combine(directory, "server.log"), "-o", settings, "-w", "-t", "60", "start"], cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private string DataDirectory => Path.Combine(_directory, "data");

    public NpgsqlDataSource CreateDataSource() => NpgsqlDataSource.Create(ConnectionString);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Directory.Exists(Path.Combine(DataDirectory, "base")))
                await ToolAsync("pg_ctl", ["-D", DataDirectory, "-m", "fast", "-w", "stop"], CancellationToken.None);
        }
        catch (InvalidOperationException ex)
        {
            Console.Error.WriteLine($"postgres: stop failed: {ex.Message}");
        }
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private Task ToolAsync(string tool, string[] arguments, CancellationToken cancellationToken) =>
        _asPostgresUser
            ? RunAsync("runuser", ["-u", "postgres", "--", Path.Combine(_bin, tool), .. arguments], cancellationToken)
            : RunAsync(Path.Combine(_bin, tool), arguments, cancellationToken);

    private static async Task RunAsync(string file, string[] arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited {process.ExitCode}: {await output}{await error}");
    }
}
