using Multicast.Messaging;
using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.TestSupport;

/// <summary>
/// Reliable channels on one seeded in-memory hub, with the fast timings the channel's in-memory fault tests use: starts
/// them (waiting until each joined) and, at the end, heals the hub, checks that no handler saw its contract broken and
/// disposes them.
/// </summary>
internal sealed class InMemoryChannelNodes(int seed, string clusterId, Action<GroupChannelOptions>? defaults = null) : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly List<(ReliableGroupChannel Channel, CollectingHandler Handler)> _nodes = [];

    public InMemoryHub Hub { get; } = new(seed: seed);

    /// <summary>The channels created so far (and not removed), in the order they were created.</summary>
    public IReadOnlyList<(ReliableGroupChannel Channel, CollectingHandler Handler)> All
    {
        get
        {
            lock (_lock)
                return [.. _nodes];
        }
    }

    /// <summary>Creates a channel on <paramref name="transport"/> without starting it (heartbeats every 50 ms, suspected
    /// after 1 s, quick joins); the fixture's own tuning, then <paramref name="tune"/>, change those options first. Its clock is
    /// <paramref name="time"/> (the system's when null). A channel takes its incarnation when it is created: the one created
    /// first is the older.</summary>
    public (ReliableGroupChannel Channel, CollectingHandler Handler) Create(string id, ITransport transport, Action<GroupChannelOptions>? tune = null,
        TimeProvider? time = null)
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
        defaults?.Invoke(options);
        tune?.Invoke(options);
        var node = (new ReliableGroupChannel(transport, options, time, TestLogging.Factory), new CollectingHandler());
        lock (_lock)
            _nodes.Add(node);
        return node;
    }

    /// <summary>Creates and starts a channel (see <see cref="Create"/>), waiting until it joined.</summary>
    public async Task<(ReliableGroupChannel Channel, CollectingHandler Handler)> StartAsync(string id, ITransport transport, Action<GroupChannelOptions>? tune = null,
        TimeProvider? time = null)
    {
        var node = Create(id, transport, tune, time);
        await Eventually.Within(node.Channel.StartAsync(node.Handler).AsTask(), $"{id} to join");
        return node;
    }

    /// <summary>Creates and starts a channel on a new transport of the hub.</summary>
    public Task<(ReliableGroupChannel Channel, CollectingHandler Handler)> StartAsync(string id, Action<GroupChannelOptions>? tune = null) =>
        StartAsync(id, Hub.CreateTransport(), tune);

    /// <summary>Creates and starts a channel on a new transport of the hub, and returns that transport too (for tests that
    /// address, cut or crash it).</summary>
    public async Task<(ReliableGroupChannel Channel, CollectingHandler Handler, InMemoryTransport Transport)> StartWithTransportAsync(
        string id, Action<GroupChannelOptions>? tune = null)
    {
        var transport = Hub.CreateTransport();
        var (channel, handler) = await StartAsync(id, transport, tune);
        return (channel, handler, transport);
    }

    /// <summary>Disposes a channel before the end (it is no longer checked or disposed then).</summary>
    public async Task RemoveAsync((ReliableGroupChannel Channel, CollectingHandler Handler) node)
    {
        lock (_lock)
            _nodes.Remove(node);
        Assert.That(node.Handler.ContractViolation, Is.Null);
        await node.Channel.DisposeAsync();
    }

    /// <summary>Whether every channel holds the same view, of all of them.</summary>
    public bool OneViewOfAll()
    {
        var nodes = All;
        var views = nodes.Select(n => n.Channel.View).ToArray();
        return views.All(v => v.Id == views[0].Id && v.Members.Count == nodes.Count);
    }

    /// <summary>Each channel's view, for a failure message.</summary>
    public string Views() => string.Join("; ", All.Select(n => $"{n.Channel.Options.NodeId}: {n.Channel.View}"));

    public async ValueTask DisposeAsync()
    {
        Hub.Heal();
        foreach (var (channel, handler) in All)
        {
            Assert.That(handler.ContractViolation, Is.Null);
            await channel.DisposeAsync();
        }
        lock (_lock)
            _nodes.Clear();
    }
}
