using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Multicast.Soak;

/// <summary>
/// Three node hosts in network namespaces of their own on one bridge (tools/netns/up.sh), with an uplink from the root
/// namespace (tools/netns/uplink.sh) so that HTTP reaches them while a node's UDP can be cut with iptables.
/// </summary>
internal sealed class SoakCluster : IAsyncDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);
    private readonly string _repo;
    private readonly string _ip;
    private readonly string _prefix = "mcs" + Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()))[..6];

    private SoakCluster(string repo, string ip)
    {
        _repo = repo;
        _ip = ip;
    }

    public List<SoakNode> Nodes { get; } = [];

    public HttpClient Http { get; } = new(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>Makes the namespaces and starts the nodes; throws <see cref="InvalidOperationException"/> with what is missing.</summary>
    public static async Task<SoakCluster> StartAsync(string repo, string hostDll, string store, TextWriter log)
    {
        var missing = new List<string>();
        if (!Environment.IsPrivilegedProcess)
            missing.Add("root (network namespaces and iptables need it)");
        var ip = Find("ip");
        if (ip is null)
            missing.Add("ip (Debian package iproute2)");
        if (Find("iptables") is null)
            missing.Add("iptables (Debian package iptables)");
        if (missing.Count > 0)
            throw new InvalidOperationException($"the soak needs {string.Join(", ", missing)}");

        var cluster = new SoakCluster(repo, ip!);
        try
        {
            var lines = cluster.Script("up.sh", cluster._prefix, "3", "0").Split('\n', StringSplitOptions.RemoveEmptyEntries);
            cluster.Script("uplink.sh", cluster._prefix);
            var group = $"239.{Random.Shared.Next(256)}.{Random.Shared.Next(256)}.{Random.Shared.Next(1, 255)}";
            var port = Random.Shared.Next(20000, 60000);
            string[] common =
            [
                "--Cluster:Transport=Udp",
                $"--Cluster:Store={store}",
                $"--Cluster:ClusterId=soak-{Guid.NewGuid():N}",
                // The namespaces' bridge is not loopback, so the host requires a key: one per run.
                $"--Cluster:ClusterKey={Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))}",
                $"--Cluster:Udp:Group={group}",
                $"--Cluster:Udp:Port={port}",
            ];
            for (var i = 0; i < lines.Length; i++)
            {
                var parts = lines[i].Split(' ');
                var node = new SoakNode(i, ip!, parts[0], parts[1], hostDll, [.. common, $"--Cluster:Udp:Interface={parts[1]}"]);
                cluster.Nodes.Add(node);
                node.Start();
                if (!await node.WaitHealthyAsync(cluster.Http, TimeSpan.FromSeconds(90)))
                    throw new InvalidOperationException($"{node.NodeId} did not become healthy:\n{node.Tail}");
                log.WriteLine($"{node.NodeId} up in {node.Namespace} at {node.Url} (pid {node.Pid})");
            }
            if (!await cluster.WaitForMembersAsync(3, TimeSpan.FromSeconds(60)))
                throw new InvalidOperationException("the nodes did not form one view of three");
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Members in the node's view, or -1 when it does not answer.</summary>
    public async Task<int> MembersAsync(SoakNode node)
    {
        try
        {
            var status = await Http.GetFromJsonAsync<JsonElement>(new Uri(node.Url, "cluster"));
            return status.GetProperty("members").GetArrayLength();
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException)
        {
            return -1;
        }
    }

    /// <summary>Waits until every node is healthy and sees <paramref name="members"/> members.</summary>
    public async Task<bool> WaitForMembersAsync(int members, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            var views = await Task.WhenAll(Nodes.Select(MembersAsync));
            if (views.All(v => v == members))
                return true;
            await Task.Delay(PollInterval);
        }
        return false;
    }

    /// <summary>Drops every UDP datagram into and out of the node's namespace (HTTP still flows), or lifts that.</summary>
    public void CutUdp(SoakNode node, bool cut)
    {
        var action = cut ? "-A" : "-D";
        Run(_ip, "netns", "exec", node.Namespace, "iptables", "-w", action, "INPUT", "-p", "udp", "-j", "DROP");
        Run(_ip, "netns", "exec", node.Namespace, "iptables", "-w", action, "OUTPUT", "-p", "udp", "-j", "DROP");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
            node.Dispose();
        await Task.CompletedTask;
        try
        {
            Script("down.sh", _prefix);
        }
        catch (InvalidOperationException)
        {
            // reported by the script's own message; nothing more to undo here
        }
        Http.Dispose();
    }

    private string Script(string name, params string[] args) => Run("bash", [Path.Combine(_repo, "tools", "netns", name), .. args]);

    private static string Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {stderr.Result}");
        return stdout;
    }

    private static string? Find(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);
}
