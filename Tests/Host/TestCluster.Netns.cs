using Multicast.Tests.Transports.Udp;

namespace Multicast.Tests.Host;

/// <summary>A cluster of node processes, one per network namespace (tools/netns/up.sh), reached over the uplink.</summary>
internal sealed partial class TestCluster
{
    /// <summary>Starts one node in each namespace of <paramref name="addresses"/> over UDP multicast (a random group and
    /// port), in a cluster id of their own; the caller made the namespaces and the uplink and removes them.</summary>
    public static async Task<TestCluster> StartInNamespacesAsync(NetnsTools netns, IReadOnlyList<(string Namespace, string Address)> addresses, params string[] extra)
    {
        var group = $"239.{Random.Shared.Next(256)}.{Random.Shared.Next(256)}.{Random.Shared.Next(1, 255)}";
        var port = Random.Shared.Next(20000, 60000);
        string[] common =
        [
            "--Cluster:Transport=Udp",
            $"--Cluster:ClusterId=test-{Guid.NewGuid():N}",
            // Not loopback, so the host requires a key: one per cluster.
            $"--Cluster:ClusterKey={Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))}",
            $"--Cluster:Udp:Group={group}",
            $"--Cluster:Udp:Port={port}",
            "--Host:EnableTestEndpoints=true",
            .. extra,
        ];
        var nodes = new List<NodeProcess>();
        var cluster = new TestCluster(nodes);
        try
        {
            for (var i = 0; i < addresses.Count; i++)
                nodes.Add(NodeProcess.StartInNamespace(netns.Ip, addresses[i].Namespace, addresses[i].Address, $"node{i + 1}", common));
            foreach (var node in nodes)
                await node.WaitHealthyAsync(cluster.Http, TimeSpan.FromSeconds(60));
            await cluster.WaitForMembersAsync(addresses.Count, TimeSpan.FromSeconds(30));
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
        return cluster;
    }
}
