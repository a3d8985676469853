using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Multicast.Bench.Redis;

/// <summary>
/// A private Redis for one benchmark run (what ASP.NET Core session over <c>AddStackExchangeRedisCache</c> talks to):
/// Debian's <c>redis-server</c> on a free port on 127.0.0.1, no persistence (no RDB snapshots, no AOF), its working
/// directory a temporary directory; stopped (SHUTDOWN NOSAVE, then SIGKILL if it lingers) and the directory deleted
/// on dispose. Installs Debian's redis-server with apt-get when it is missing and the bench runs as root.
/// </summary>
internal sealed class RedisServer : IAsyncDisposable
{
    public const string DefaultExecutable = "/usr/bin/redis-server";

    private readonly Process _process;
    private readonly string _directory;

    private RedisServer(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The server's process id (its CPU time is part of the Redis side's server CPU).</summary>
    public int ProcessId => _process.Id;

    /// <summary>A StackExchange.Redis configuration string for this server.</summary>
    public string Configuration => $"127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    public string LogPath => Path.Combine(_directory, "redis.log");

    /// <summary>Starts a server and waits until it answers PING; throws <see cref="InvalidOperationException"/> with the reason when it cannot.</summary>
    public static async Task<RedisServer> StartAsync(string? executable = null, CancellationToken cancellationToken = default)
    {
        executable ??= Environment.GetEnvironmentVariable("MULTICAST_REDIS_SERVER") ?? DefaultExecutable;
        if (!File.Exists(executable))
            await InstallAsync(executable, cancellationToken);
        var directory = Directory.CreateTempSubdirectory("multicast-bench-redis-").FullName;
        var port = TcpPorts.Free();
        // Its log goes to the log file; nothing is written to the inherited standard output.
        var start = new ProcessStartInfo(executable) { WorkingDirectory = directory };
        foreach (var argument in new[]
        {
            "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--protected-mode", "yes",
            "--save", "", "--appendonly", "no", "--dir", directory, "--logfile", Path.Combine(directory, "redis.log"),
            "--daemonize", "no", "--databases", "1",
        })
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {executable}");
        var server = new RedisServer(process, directory, port);
        try
        {
            await server.WaitReadyAsync(TimeSpan.FromSeconds(30), cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends one inline command over a fresh connection and returns the first reply line (no client library: readiness and shutdown only).</summary>
    private async Task<string> CommandAsync(string command, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(System.Net.IPAddress.Loopback, Port, cancellationToken);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(command + "\r\n"), cancellationToken);
        var buffer = new byte[256];
        var read = await stream.ReadAsync(buffer, cancellationToken);
        return Encoding.ASCII.GetString(buffer, 0, read).Split("\r\n")[0];
    }

    private async Task WaitReadyAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"redis-server exited {_process.ExitCode}: {Tail(LogPath)}");
            try
            {
                if (await CommandAsync("PING", cancellationToken) == "+PONG")
                    return;
            }
            catch (SocketException)
            {
                // not listening yet
            }
            catch (IOException)
            {
                // closed while starting
            }
            if (clock.Elapsed > limit)
                throw new InvalidOperationException($"redis-server did not answer PING within {limit.TotalSeconds} s: {Tail(LogPath)}");
            await Task.Delay(20, cancellationToken);
        }
    }

    /// <summary>apt-get install redis-server (as root only; apt-get update first when the package is unknown).</summary>
    private static async Task InstallAsync(string executable, CancellationToken cancellationToken)
    {
        if (Environment.UserName != "root" || !File.Exists("/usr/bin/apt-get"))
            throw new InvalidOperationException($"redis-server not found at {executable} (install Debian's redis-server, or set MULTICAST_REDIS_SERVER)");
        Console.Error.WriteLine("redis: installing Debian's redis-server ...");
        if (await AptGetAsync(["install", "-y", "-qq", "redis-server"], cancellationToken) != 0)
        {
            await AptGetAsync(["update", "-qq"], cancellationToken);
            await AptGetAsync(["install", "-y", "-qq", "redis-server"], cancellationToken);
        }
        if (!File.Exists(executable))
            throw new InvalidOperationException($"redis-server not found at {executable} after apt-get install redis-server");
    }

    private static async Task<int> AptGetAsync(string[] arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo("/usr/bin/apt-get") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start apt-get");
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        await output;
        await error;
        return process.ExitCode;
    }

    private static string Tail(string path)
    {
        try
        {
            return File.Exists(path) ? string.Join(" | ", File.ReadLines(path).TakeLast(5)) : "(no log)";
        }
        catch (IOException)
        {
            return "(log unreadable)";
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                await CommandAsync("SHUTDOWN NOSAVE", CancellationToken.None);
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                // already going
            }
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
                await _process.WaitForExitAsync(CancellationToken.None);
            }
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
