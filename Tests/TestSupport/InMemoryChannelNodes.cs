using Multicast.Messaging;
using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.TestSupport;

/// <summary>
/// Reliable channels on one seeded in-memory hub, with the fast timings the channel's in-memory fault tests use: starts
/// them (waiting until each joined) and, at the end, heals the hub, checks that no handler saw its contract broken and
/// disposes them.
/// </summary>
internal sealed class InMemoryChannelNodes(int seed, string clusterId) : IAsyncDisposable
{
    private readonly List<(ReliableGroupChannel Channel, CollectingHandler Handler)> _nodes = [];

    public InMemoryHub Hub { get; } = new(seed: seed);

    /// <summary>Starts a channel on <paramref name="transport"/> (heartbeats every 50 ms, suspected after 1 s, quick joins);
    /// <paramref name="tune"/> changes those options first.</summary>
    public async Task<(ReliableGroupChannel Channel, CollectingHandler Handler)> StartAsync(string id, ITransport transport, Action<GroupChannelOptions>? tune = null)
    {
        var options = new GroupChannelOptions
        {
            ClusterId = clusterId,
            NodeId = id,
            HeartbeatInterval = TimeSpan.FromMilliseconds(50),
            SuspectTimeout = TimeSpan.FromSeconds(1),
            JoinTimeout = TimeSpan.FromMilliseconds(200),
            JoinRetryInterval = TimeSpan.FromMilliseconds(30),
            SendTimeout = TimeSpan.FromSeconds(5),
        };
        tune?.Invoke(options);
        var node = (new ReliableGroupChannel(transport, options, loggers: TestLogging.Factory), new CollectingHandler());
        _nodes.Add(node);
        await Eventually.Within(node.Item1.StartAsync(node.Item2).AsTask(), $"{id} to join");
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        Hub.Heal();
        foreach (var (channel, handler) in _nodes)
        {
            Assert.That(handler.ContractViolation, Is.Null);
            await channel.DisposeAsync();
        }
        _nodes.Clear();
    }
}
