using System.Diagnostics;
using Multicast.Messaging;
using Multicast.Transport;

namespace Multicast.Bench.Transport;

/// <summary>One sender and some receivers, each a reliable channel over its own transport, in this process.</summary>
internal sealed class ChannelCluster : IAsyncDisposable
{
    private readonly List<ReliableGroupChannel> _channels = [];

    public ReliableGroupChannel Sender => _channels[0];

    public List<BenchNode> Receivers { get; } = [];

    /// <summary>Starts the nodes (node 0 sends) and waits until every one sees every other.</summary>
    public static async Task<ChannelCluster> StartAsync(int receivers, Func<int, ITransport> transport, Action<GroupChannelOptions>? configure, CancellationToken cancellationToken)
    {
        var cluster = new ChannelCluster();
        var clusterId = $"bench-{Guid.NewGuid():N}";
        var nodes = new List<BenchNode>();
        for (var i = 0; i <= receivers; i++)
        {
            var options = new GroupChannelOptions { ClusterId = clusterId, NodeId = i == 0 ? "sender" : $"receiver{i}" };
            configure?.Invoke(options);
            var channel = new ReliableGroupChannel(transport(i), options);
            var node = new BenchNode();
            cluster._channels.Add(channel);
            nodes.Add(node);
            if (i > 0)
                cluster.Receivers.Add(node);
            await channel.StartAsync(node, cancellationToken);
        }
        var clock = Stopwatch.StartNew();
        while (nodes.Any(n => n.Members < receivers + 1))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(20))
                throw new TimeoutException("the benchmark cluster did not form a view of every node");
            await Task.Delay(10, cancellationToken);
        }
        return cluster;
    }

    /// <summary>
    /// Offers <paramref name="rate"/> messages/s of <paramref name="size"/> bytes for <paramref name="duration"/>, each
    /// stamped so the receivers record its age in <paramref name="latencies"/>, then waits (30 s at most) for delivery.
    /// </summary>
    /// <returns>How many were sent and whether every receiver got them all.</returns>
    public async Task<(long Sent, bool All)> SendPacedAsync(int size, double rate, TimeSpan duration, Latencies latencies, CancellationToken cancellationToken)
    {
        foreach (var receiver in Receivers)
            receiver.Latencies = latencies;
        var message = new byte[size];
        var pending = new List<Task>();
        var sent = BenchNetwork.Paced(rate, duration, i =>
        {
            BenchNetwork.Stamp(message, i);
            // Sequence numbers are assigned at the call; a full window would make the task wait.
            var send = Sender.BroadcastAsync(message, cancellationToken);
            if (!send.IsCompletedSuccessfully)
                pending.Add(send.AsTask());
        }, cancellationToken);
        await Task.WhenAll(pending);
        return (sent, await WaitDeliveredAsync(sent, TimeSpan.FromSeconds(30)));
    }

    public async Task<bool> WaitDeliveredAsync(long count, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (Receivers.Any(r => r.Delivered < count))
        {
            if (clock.Elapsed > timeout)
                return false;
            await Task.Delay(1);
        }
        return true;
    }

    public void Report(BenchResult result)
    {
        var sender = Sender.Counters;
        result.Set("retransmissions", sender.Retransmissions);
        result.Set("naks_received", sender.NaksReceived);
        result.Set("datagrams_sent", sender.DatagramsSent);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
            await channel.DisposeAsync();
    }
}
