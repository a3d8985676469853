using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Transports.Udp;

namespace Multicast.Bench.Cluster;

/// <summary>Cluster nodes in this process, each with its own UDP multicast transport on 127.0.0.1 (a random group and port per cluster).</summary>
internal sealed class BenchCluster : IAsyncDisposable
{
    private readonly List<SessionManager> _nodes = [];
    private readonly string _group = Transport.BenchNetwork.RandomGroup().ToString();
    private readonly int _port = Transport.BenchNetwork.FreeUdpPort();
    private readonly string _clusterId = $"bench-{Guid.NewGuid():N}";
    private readonly Action<ClusterStoreOptions>? _configure;

    public BenchCluster(Action<ClusterStoreOptions>? configure = null) => _configure = configure;

    public IReadOnlyList<SessionManager> Nodes => _nodes;

    /// <summary>Starts <paramref name="count"/> nodes one after another and waits until every view holds them all.</summary>
    public static async Task<BenchCluster> StartAsync(int count, Action<ClusterStoreOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        var cluster = new BenchCluster(configure);
        try
        {
            for (var i = 0; i < count; i++)
                await cluster.AddNodeAsync(cancellationToken);
            await cluster.WaitForViewAsync(cancellationToken);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts one more node; completes when its store reports ready (joined and state transfer done).</summary>
    public async Task<SessionManager> AddNodeAsync(CancellationToken cancellationToken = default)
    {
        var id = $"node{_nodes.Count + 1}";
        var transport = new UdpMulticastTransport(new UdpTransportOptions
        {
            Group = _group,
            Port = _port,
            Interface = "127.0.0.1",
            ReceiveBufferBytes = 8 * 1024 * 1024,
            SendBufferBytes = 4 * 1024 * 1024,
        });
        var channel = new ReliableGroupChannel(transport, new GroupChannelOptions { ClusterId = _clusterId, NodeId = id });
        var options = new ClusterStoreOptions { NodeId = id };
        _configure?.Invoke(options);
        var manager = new SessionManager(new ReplicatedClusterStore(channel, options), new SessionOptions());
        _nodes.Add(manager);
        await manager.StartAsync(cancellationToken);
        return manager;
    }

    public async Task WaitForViewAsync(CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        while (!_nodes.All(n => n.Store.IsReady() && ((ArbitratedClusterStore)n.Store).View.Members.Count == _nodes.Count))
            await Task.Delay(20, deadline.Token);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            try
            {
                await node.StopAsync(CancellationToken.None);
            }
            catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException or TimeoutException or OperationCanceledException)
            {
            }
            await node.DisposeAsync();
        }
    }
}
