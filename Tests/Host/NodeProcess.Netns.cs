namespace Multicast.Tests.Host;

/// <summary>A node host started inside a network namespace (<c>ip netns exec</c>), for faults between real processes.</summary>
internal sealed partial class NodeProcess
{
    private NodeProcess(string nodeId, Uri url, string[] args, string[] wrapper)
    {
        NodeId = nodeId;
        Url = url;
        _args = args;
        _wrapper = wrapper;
        _process = Launch();
    }

    /// <summary>Starts a node in namespace <paramref name="ns"/>, HTTP and UDP bound to the namespace's
    /// <paramref name="address"/> (<c>ip netns exec</c> execs dotnet: the process id is the node's).</summary>
    public static NodeProcess StartInNamespace(string ip, string ns, string address, string nodeId, IEnumerable<string> args)
    {
        var url = new Uri($"http://{address}:5080");
        return new NodeProcess(nodeId, url,
            [$"--Urls={url.GetLeftPart(UriPartial.Authority)}", $"--Cluster:NodeId={nodeId}", $"--Cluster:Udp:Interface={address}", .. args],
            [ip, "netns", "exec", ns]);
    }
}
