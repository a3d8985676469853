using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Transport;

namespace Multicast.Tests.Stores;

/// <summary>Builds clusters of store nodes for the store tests: subclasses say how a node's transport and store are
/// made.</summary>
public abstract class StoreTestBase
{
    private readonly List<TestNode> _nodes = [];

    /// <summary>The store's logger when MULTICAST_TEST_LOG is set (see <see cref="TestLogging"/>).</summary>
    protected static Microsoft.Extensions.Logging.ILogger? StoreLog(ClusterStoreOptions options) =>
        (TestLogging.Factory ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger($"store.{options.NodeId}");

    /// <summary>A fresh cluster id per test keeps tests that share a transport group apart.</summary>
    protected string ClusterId { get; private set; } = string.Empty;

    /// <summary>A transport for the node with this index in the current test (for the default <see cref="CreateNodeStore"/>).</summary>
    protected virtual ITransport CreateTransport(int index) =>
        throw new InvalidOperationException($"{GetType().Name} must override CreateTransport, or CreateNodeStore for a store without a group channel.");

    /// <summary>The store of the node with this index: by default <see cref="CreateStore"/> over a reliable group channel on
    /// <see cref="CreateTransport"/>. A store that needs no channel (an external server) overrides this instead.</summary>
    protected virtual IClusterStore CreateNodeStore(int index, ClusterStoreOptions options, TimeProvider time)
    {
        var channel = new ReliableGroupChannel(CreateTransport(index), ChannelOptions(options.NodeId), loggers: TestLogging.Factory);
        return CreateStore(channel, options, time);
    }

    /// <summary>The store under test; the replicated store by default.</summary>
    protected virtual IClusterStore CreateStore(IGroupChannel channel, ClusterStoreOptions options, TimeProvider time) =>
        new ReplicatedClusterStore(channel, options, time, StoreLog(options));

    /// <summary>Channel timings short enough for tests.</summary>
    protected virtual GroupChannelOptions ChannelOptions(string nodeId) => new()
    {
        ClusterId = ClusterId,
        NodeId = nodeId,
        HeartbeatInterval = TimeSpan.FromMilliseconds(100),
        SuspectTimeout = TimeSpan.FromSeconds(4), // a starved 2-core CI machine delays heartbeats; only the crash tests wait for it
        JoinTimeout = TimeSpan.FromMilliseconds(300),
    };

    /// <summary>Releases anything a subclass holds for the test (a hub, a group).</summary>
    protected virtual ValueTask CleanUpAsync() => ValueTask.CompletedTask;

    [SetUp]
    public void NewCluster()
    {
        ClusterId = $"test-{Guid.NewGuid():N}";
        TestLogging.Clear();
    }

    [TearDown]
    public async Task StopNodes()
    {
        TestLogging.DumpIfFailed();
        foreach (var node in _nodes)
        {
            try
            {
                await node.Manager.DisposeAsync();
            }
            catch (ObjectDisposedException)
            {
            }
        }
        _nodes.Clear();
        await CleanUpAsync();
    }

    protected sealed record TestNode(string Id, SessionManager Manager, IClusterStore Store, TimeProvider Time);

    protected async Task<TestNode> StartNodeAsync(string id, Action<ClusterStoreOptions>? configure = null, TimeProvider? time = null, Action<SessionOptions>? session = null)
    {
        var clock = time ?? TimeProvider.System;
        var options = new ClusterStoreOptions { NodeId = id, LockWaitTimeout = TimeSpan.FromSeconds(15) };
        configure?.Invoke(options);
        var sessionOptions = new SessionOptions();
        session?.Invoke(sessionOptions);
        var store = CreateNodeStore(_nodes.Count, options, clock);
        var manager = new SessionManager(store, sessionOptions, clock);
        await manager.StartAsync();
        var node = new TestNode(id, manager, store, clock);
        lock (_nodes) // nodes may start side by side (a whole-cluster restart)
            _nodes.Add(node);
        return node;
    }

    protected async Task<TestNode[]> StartClusterAsync(int count, Action<ClusterStoreOptions>? configure = null, TimeProvider? time = null, Action<SessionOptions>? session = null)
    {
        var nodes = new TestNode[count];
        for (var i = 0; i < count; i++)
            nodes[i] = await StartNodeAsync($"node{i + 1}", configure, time, session);
        // Ready, not merely serving: every member caught up and known to be, so the write concern counts them all.
        await Eventually.Until(() => nodes.All(n => ViewOf(n).Members.Count == count && n.Store.Status == ClusterStoreStatus.Ready), $"{count} ready members in every view", () => DescribeNodes(nodes));
        return nodes;
    }

    /// <summary>Each node's view and status, for a failure message.</summary>
    protected static string DescribeNodes(IEnumerable<TestNode> nodes) => string.Join("; ", nodes.Select(n =>
    {
        var view = ViewOf(n);
        return $"{n.Id}: view {view.Id} [{string.Join(",", view.Members.Select(m => m.NodeId))}] {n.Store.Status}";
    }));

    protected static async Task<string> CreateWithAsync(TestNode node, Action<Session> fill)
    {
        var session = await node.Manager.CreateAsync();
        fill(session);
        await node.Manager.EndRequestAsync(session);
        return session.Id;
    }

    protected static async Task<int> IncrementAsync(TestNode node, string id)
    {
        var session = await node.Manager.BeginRequestAsync(id, SessionAccess.Exclusive) ?? throw new AssertionException($"session {id} not found on {node.Id}");
        var next = (session.GetInt32("count") ?? 0) + 1;
        session.SetInt32("count", next);
        await node.Manager.EndRequestAsync(session);
        return next;
    }

    protected static async Task<int?> ReadCountAsync(TestNode node, string id)
    {
        var session = await node.Manager.BeginRequestAsync(id, SessionAccess.ReadOnly);
        return session?.GetInt32("count");
    }

    /// <summary>The node's membership view, through the public <see cref="IClusterMembership"/> every store under test offers.</summary>
    protected static MembershipView ViewOf(TestNode node) =>
        node.Store is IClusterMembership membership ? membership.View : throw new AssertionException($"{node.Store.GetType().Name} does not implement IClusterMembership");

    protected static bool Holds(TestNode node, string id, long version) =>
        node.Manager.Table.TryGet(id, out var r) && r.Version >= version;

    /// <summary>Whether the store places the session on this node (every node, in the replicated store).</summary>
    protected static bool MustHold(TestNode node, string id) => node.Store is not RingClusterStore ring || ring.MustHold(id);

    /// <summary>The nodes that must hold the session.</summary>
    protected static TestNode[] HoldersOf(IEnumerable<TestNode> nodes, string id) => [.. nodes.Where(n => MustHold(n, id))];

    /// <summary>Waits until every node that must hold the session holds at least <paramref name="version"/>.</summary>
    protected static Task HeldEverywhereAsync(TestNode[] nodes, string id, long version, string what) =>
        Eventually.Until(() => HoldersOf(nodes, id) is { Length: > 0 } holders && holders.All(n => Holds(n, id, version)), what);
}
