namespace Multicast.Bench.Http;

/// <summary>
/// One side of an HTTP comparison: its app processes (the URLs the load goes to) and every server process whose CPU
/// counts for it (the apps, plus e.g. the redis-server they share). Stops the apps on dispose, not the shared servers.
/// </summary>
internal sealed class AppGroup : IAsyncDisposable
{
    private readonly List<AppProcess> _apps;
    private readonly int[] _sharedServers;

    private AppGroup(string name, List<AppProcess> apps, int[] sharedServers)
    {
        Name = name;
        _apps = apps;
        _sharedServers = sharedServers;
    }

    public string Name { get; }

    public IReadOnlyList<AppProcess> Apps => _apps;

    /// <summary>The apps' and the shared servers' process ids.</summary>
    public IEnumerable<int> ServerProcessIds => _apps.Select(a => a.Id).Concat(_sharedServers);

    /// <summary>The process ids of the servers the apps share (e.g. redis-server).</summary>
    public IEnumerable<int> SharedServerProcessIds => _sharedServers;

    /// <summary>Three (or <paramref name="count"/>) node host processes on one random UDP multicast group on 127.0.0.1.</summary>
    public static Task<AppGroup> StartClusterAsync(string name, string hostDll, int count, string[] extra, string logs, HttpClient http, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var group = Transport.BenchNetwork.RandomGroup().ToString();
        var port = Transport.BenchNetwork.FreeUdpPort();
        return StartAsync(name, count, [], logs, http, TimeSpan.FromSeconds(60), (i, url) => (hostDll,
        [
            $"--Urls={url}", $"--Cluster:NodeId=node{i}", "--Cluster:Transport=Udp",
            $"--Cluster:Udp:Group={group}", $"--Cluster:Udp:Port={port}", "--Serilog:MinimumLevel:Default=Warning", .. extra,
        ]), cancellationToken, environment);
    }

    /// <summary><paramref name="count"/> processes of <c>Bench serve-baseline</c> with <paramref name="storeArguments"/> (e.g. <c>--store redis --redis ...</c>).</summary>
    public static Task<AppGroup> StartBaselineAsync(string name, int count, string[] storeArguments, int[] sharedServers, string logs, HttpClient http, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string>? environment = null) =>
        StartAsync(name, count, sharedServers, logs, http, TimeSpan.FromSeconds(30),
            (_, url) => (typeof(AppGroup).Assembly.Location, ["serve-baseline", "--urls", url, .. storeArguments]), cancellationToken, environment);

    private static async Task<AppGroup> StartAsync(string name, int count, int[] sharedServers, string logs, HttpClient http, TimeSpan limit,
        Func<int, string, (string Dll, string[] Arguments)> command, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? environment)
    {
        var apps = new List<AppProcess>();
        var group = new AppGroup(name, apps, sharedServers);
        try
        {
            for (var i = 1; i <= count; i++)
            {
                var url = new Uri($"http://127.0.0.1:{TcpPorts.Free()}/");
                var (dll, arguments) = command(i, url.ToString().TrimEnd('/'));
                apps.Add(AppProcess.Start(dll, arguments, url, Path.Combine(logs, $"{name}.{i}.log"), environment));
            }
            foreach (var app in apps)
                await app.WaitHealthyAsync(http, limit, cancellationToken);
            return group;
        }
        catch
        {
            await group.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps)
            await app.DisposeAsync();
    }
}
