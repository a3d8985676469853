using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Stores;

/// <summary>Store tests on the in-memory network whose channels lose the store messages a test names
/// (<see cref="LossyChannel"/>); one fixture per store (<paramref name="ring"/>).</summary>
public abstract class LossyStoreTestBase(bool ring) : StoreTestBase
{
    /// <summary>The network of the current test (a fresh seed each test).</summary>
    protected InMemoryHub Hub { get; private set; } = new();

    /// <summary>Every channel, in the order the nodes were started (a node started again adds one).</summary>
    private protected List<LossyChannel> Channels { get; } = [];

    /// <summary>Each node's latest channel, by node id.</summary>
    private protected Dictionary<string, LossyChannel> ChannelOf { get; } = new(StringComparer.Ordinal);

    /// <summary>Every transport, in the order they were created.</summary>
    protected List<ITransport> Transports { get; } = [];

    /// <summary>Applied to the next channel created (before its node starts), then cleared.</summary>
    private protected Action<LossyChannel>? ConfigureNext { get; set; }

    /// <summary>Whether a node's channel runs on the node's clock too, so freezing the clock (a pause) freezes both.</summary>
    protected virtual bool ChannelOnNodeClock => false;

    [SetUp]
    public void NewLossyNetwork()
    {
        Hub = new InMemoryHub(seed: Environment.TickCount);
        Channels.Clear();
        ChannelOf.Clear();
        Transports.Clear();
        ConfigureNext = null;
    }

    protected override ITransport CreateTransport(int index)
    {
        var transport = Hub.CreateTransport();
        Transports.Add(transport);
        return transport;
    }

    protected override IClusterStore CreateNodeStore(int index, ClusterStoreOptions options, TimeProvider time)
    {
        var inner = new ReliableGroupChannel(CreateTransport(index), ChannelOptions(options.NodeId), ChannelOnNodeClock ? time : null, TestLogging.Factory);
        var channel = new LossyChannel(inner);
        ConfigureNext?.Invoke(channel);
        ConfigureNext = null;
        Channels.Add(channel);
        ChannelOf[options.NodeId] = channel;
        return ring ? new RingClusterStore(channel, options, time, StoreLog(options)) : new ReplicatedClusterStore(channel, options, time, StoreLog(options));
    }
}
