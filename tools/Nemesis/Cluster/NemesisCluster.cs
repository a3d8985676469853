using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Multicast.Messaging;
using Multicast.Nemesis.Schedules;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Transports.InMemory;

namespace Multicast.Nemesis.Cluster;

/// <summary>
/// The nodes of one schedule on one in-memory hub, and the faults applied to them. Network faults are kept as a set of
/// active faults and re-applied as a whole whenever one starts or ends (so overlapping partitions combine, and a
/// restarted node, which has a new address, is cut off as before). Node faults (pause, crash, restart) are actions,
/// serialised per node.
/// </summary>
internal sealed class NemesisCluster : IAsyncDisposable
{
    private static readonly TimeSpan DisposeTimeout = TimeSpan.FromSeconds(10);

    private readonly Schedule _schedule;
    private readonly Func<TimeSpan> _now;
    private readonly ILoggerFactory _loggers;
    private readonly string _clusterId = $"nemesis-{Guid.NewGuid():N}";
    private readonly string _dataRoot;
    private readonly object _faultsLock = new();
    private readonly List<Fault> _active = [];
    private readonly SemaphoreSlim[] _lifecycle;
    private readonly ConcurrentQueue<string> _events = new();
    private readonly List<Task> _background = [];
    private readonly TimeSpan[] _skew;

    private readonly Func<IClusterStore, IClusterStore>? _decorate;

    /// <param name="schedule">What to build.</param>
    /// <param name="now">The history's clock, for the timeline.</param>
    /// <param name="decorate">Wraps each node's store (a test's faulty store, to prove the checker catches it).</param>
    /// <param name="loggers">The nodes' loggers.</param>
    public NemesisCluster(Schedule schedule, Func<TimeSpan> now, Func<IClusterStore, IClusterStore>? decorate = null, ILoggerFactory? loggers = null)
    {
        _schedule = schedule;
        _decorate = decorate;
        _now = now;
        _loggers = loggers ?? NullLoggerFactory.Instance;
        Hub = new InMemoryHub(schedule.HubSeed);
        _dataRoot = Path.Combine(Path.GetTempPath(), "multicast-nemesis-" + Guid.NewGuid().ToString("N"));
        Nodes = [.. Enumerable.Range(0, schedule.Nodes).Select(i =>
            new NemesisNode(i, new NodeClock(schedule.InitialSkew[i]), schedule.Store == StoreKind.Ring ? Path.Combine(_dataRoot, $"node{i + 1}") : string.Empty))];
        _lifecycle = [.. Nodes.Select(_ => new SemaphoreSlim(1, 1))];
        _skew = [.. schedule.InitialSkew];
    }

    public InMemoryHub Hub { get; }

    public IReadOnlyList<NemesisNode> Nodes { get; }

    /// <summary>What the harness did, with times: printed with a failure.</summary>
    public IReadOnlyList<string> Events => [.. _events];

    /// <summary>Starts every node, one after the other, and waits until all are ready in one view.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var node in Nodes)
            await StartIncarnationAsync(node, cancellationToken);
    }

    /// <summary>Whether every node is up, ready and sees every other in its view.</summary>
    public bool AllReady() => Nodes.All(n => n.State == NodeState.Up && n.Store is { } s && s.IsReady() && (ViewSize(s) ?? Nodes.Count) == Nodes.Count);

    /// <summary>Members in the store's view, when the store reports one.</summary>
    public static int? ViewSize(IClusterStore store) => (store as IClusterMembership)?.View.Members.Count;

    /// <summary>Starts a fault now.</summary>
    public async Task InjectAsync(Fault fault, CancellationToken cancellationToken)
    {
        Note($"start {fault}");
        switch (fault.Kind)
        {
            case FaultKind.Partition or FaultKind.OneWay or FaultKind.Lossy or FaultKind.SlowDeliveries or FaultKind.SlowHandler or FaultKind.ClockSkew:
                lock (_faultsLock)
                    _active.Add(fault);
                ApplyNetworkAndClocks();
                break;
            case FaultKind.Pause:
                await OnNodeAsync(fault.Nodes[0], node =>
                {
                    if (node.PauseDepth++ == 0 && node.State != NodeState.Down)
                        Freeze(node);
                    return Task.CompletedTask;
                }, cancellationToken);
                break;
            case FaultKind.Crash or FaultKind.CrashWipe:
                await OnNodeAsync(fault.Nodes[0], node =>
                {
                    if (node.State != NodeState.Up)
                    {
                        Note($"  node{node.Index + 1} is not up: no crash");
                        return Task.CompletedTask;
                    }
                    node.WipeOnRestart |= fault.Kind == FaultKind.CrashWipe;
                    Crash(node);
                    return Task.CompletedTask;
                }, cancellationToken);
                break;
            case FaultKind.GracefulRestart:
                await OnNodeAsync(fault.Nodes[0], node =>
                {
                    if (node.State == NodeState.Up && !node.IsPaused)
                        return StopGracefullyAsync(node);
                    Note($"  node{node.Index + 1} is not up or is paused: no graceful restart");
                    return Task.CompletedTask;
                }, cancellationToken);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(fault), fault.Kind, null);
        }
    }

    /// <summary>Ends a fault now (a crashed or stopped node starts again; the call returns once it has joined or failed to).</summary>
    public async Task RevertAsync(Fault fault, CancellationToken cancellationToken)
    {
        Note($"end   {fault}");
        switch (fault.Kind)
        {
            case FaultKind.Partition or FaultKind.OneWay or FaultKind.Lossy or FaultKind.SlowDeliveries or FaultKind.SlowHandler or FaultKind.ClockSkew:
                lock (_faultsLock)
                    _active.Remove(fault);
                ApplyNetworkAndClocks();
                break;
            case FaultKind.Pause:
                await OnNodeAsync(fault.Nodes[0], node =>
                {
                    if (node.PauseDepth > 0 && --node.PauseDepth == 0)
                        Thaw(node);
                    return Task.CompletedTask;
                }, cancellationToken);
                break;
            case FaultKind.Crash or FaultKind.CrashWipe or FaultKind.GracefulRestart:
                await RestartIfDownAsync(Nodes[fault.Nodes[0]], cancellationToken);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(fault), fault.Kind, null);
        }
    }

    /// <summary>Removes every fault: the network heals, clocks agree again, paused nodes resume, down nodes restart.</summary>
    public async Task HealAsync(CancellationToken cancellationToken)
    {
        Note("heal: every fault removed");
        lock (_faultsLock)
        {
            _active.Clear();
            Array.Fill(_skew, TimeSpan.Zero);
        }
        ApplyNetworkAndClocks();
        foreach (var node in Nodes)
        {
            await OnNodeAsync(node.Index, n =>
            {
                n.PauseDepth = 0;
                if (n.IsPaused)
                    Thaw(n);
                return Task.CompletedTask;
            }, cancellationToken);
        }
        await Task.WhenAll(Nodes.Select(n => RestartIfDownAsync(n, cancellationToken)));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            if (node.IsPaused)
                Thaw(node);
        }
        var stops = Nodes.Select(n => DisposeIncarnationAsync(n)).ToList();
        await Task.WhenAll(stops);
        Task[] background;
        lock (_background)
            background = [.. _background];
        await AwaitQuietlyAsync(Task.WhenAll(background), DisposeTimeout);
        foreach (var gate in _lifecycle)
            gate.Dispose();
        try
        {
            if (Directory.Exists(_dataRoot))
                Directory.Delete(_dataRoot, recursive: true);
        }
        catch (IOException)
        {
            // a store still closing a file: the temp directory is left behind
        }
    }

    private void Note(string what) => _events.Enqueue($"[{_now().TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture)}] {what}");

    private async Task OnNodeAsync(int index, Func<NemesisNode, Task> action, CancellationToken cancellationToken)
    {
        var gate = _lifecycle[index];
        await gate.WaitAsync(cancellationToken);
        try
        {
            await action(Nodes[index]);
        }
        finally
        {
            gate.Release();
        }
    }

    private void Freeze(NemesisNode node)
    {
        node.MarkPaused();
        node.Clock.Pause();
        if (node.Transport is { } t)
            Hub.Pause(t.LocalAddress);
    }

    private void Thaw(NemesisNode node)
    {
        if (node.Transport is { } t)
            Hub.Resume(t.LocalAddress);
        node.Clock.Resume();
        node.MarkResumed();
    }

    /// <summary>Re-applies every active network and clock fault from scratch.</summary>
    private void ApplyNetworkAndClocks()
    {
        Fault[] active;
        TimeSpan[] skew;
        lock (_faultsLock)
        {
            active = [.. _active];
            skew = [.. _skew];
        }
        var address = Nodes.Select(n => n.Transport?.LocalAddress).ToArray();

        Hub.Heal();
        // Nodes on the same side of every active partition reach each other: one hub partition per distinct signature.
        var partitions = active.Where(f => f.Kind == FaultKind.Partition).ToArray();
        if (partitions.Length > 0)
        {
            var groups = Nodes.GroupBy(n => string.Concat(partitions.Select(p => p.Nodes.Contains(n.Index) ? '1' : '0')));
            foreach (var group in groups.Where(g => g.Key.Contains('1', StringComparison.Ordinal)))
                Hub.Partition([.. group.Select(n => address[n.Index]).OfType<string>()]);
        }
        foreach (var oneWay in active.Where(f => f.Kind == FaultKind.OneWay))
        {
            var from = address[oneWay.Nodes[0]];
            var deaf = oneWay.Nodes.Count == 1 ? Nodes.Select(n => n.Index).Where(i => i != oneWay.Nodes[0]) : oneWay.Nodes.Skip(1);
            foreach (var to in deaf.Select(i => address[i]))
            {
                if (from is not null && to is not null)
                    Hub.BlockLink(from, to);
            }
        }
        var lossy = active.Where(f => f.Kind == FaultKind.Lossy).Select(f => f.Probability).DefaultIfEmpty(0).Max();
        Hub.DropProbability = lossy;
        Hub.DuplicateProbability = lossy;
        Hub.ReorderProbability = lossy;
        foreach (var node in Nodes)
        {
            var mine = active.Where(f => f.Nodes.Count > 0 && f.Nodes[0] == node.Index).ToArray();
            if (address[node.Index] is { } a)
            {
                Hub.SetDelay(a, mine.Where(f => f.Kind == FaultKind.SlowDeliveries).Select(f => f.Amount).DefaultIfEmpty(TimeSpan.Zero).Max());
                Hub.SetReceiveCost(a, mine.Where(f => f.Kind == FaultKind.SlowHandler).Select(f => f.Amount).DefaultIfEmpty(TimeSpan.Zero).Max());
            }
            node.Clock.Skew = skew[node.Index] + mine.Where(f => f.Kind == FaultKind.ClockSkew).Aggregate(TimeSpan.Zero, (sum, f) => sum + f.Amount);
        }
    }

    /// <summary>SIGKILL: the hub drops everything from and to it at once (its leave never arrives), then it is disposed.</summary>
    private void Crash(NemesisNode node)
    {
        Note($"  node{node.Index + 1} crashed");
        node.State = NodeState.Down;
        if (node.Transport is { } t)
            Hub.Crash(t.LocalAddress);
        node.NextGeneration();
        if (node.IsPaused)
            Thaw(node); // a killed process is not frozen: its leftovers may run down
        var manager = node.Manager;
        node.Manager = null;
        node.Store = null;
        node.Transport = null;
        if (manager is not null)
        {
            var dying = AwaitQuietlyAsync(manager.DisposeAsync().AsTask(), DisposeTimeout);
            node.Dying = dying;
            Track(dying);
        }
    }

    /// <summary>SIGTERM: the node stops taking requests, finishes what is in flight and leaves gracefully.</summary>
    private async Task StopGracefullyAsync(NemesisNode node)
    {
        Note($"  node{node.Index + 1} stopping gracefully");
        node.State = NodeState.Down;
        var manager = node.Manager;
        if (manager is not null)
        {
            var stopped = await AwaitQuietlyAsync(manager.StopAsync(), DisposeTimeout);
            Note(stopped ? $"  node{node.Index + 1} left" : $"  node{node.Index + 1} did not stop within {DisposeTimeout.TotalSeconds:0} s");
        }
        node.NextGeneration();
        node.Manager = null;
        node.Store = null;
        node.Transport = null;
        if (manager is not null)
            await AwaitQuietlyAsync(manager.DisposeAsync().AsTask(), DisposeTimeout);
    }

    private async Task RestartIfDownAsync(NemesisNode node, CancellationToken cancellationToken)
    {
        var gate = _lifecycle[node.Index];
        await gate.WaitAsync(cancellationToken);
        try
        {
            if (node.State != NodeState.Down)
                return;
            await node.Dying;
            if (node.WipeOnRestart)
                Wipe(node.DataDirectory);
            node.WipeOnRestart = false;
            await StartIncarnationAsync(node, cancellationToken);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>A new transport, channel, store and manager for the node, started (joined and ready).</summary>
    private async Task StartIncarnationAsync(NemesisNode node, CancellationToken cancellationToken)
    {
        var t = _schedule.Timings;
        var transport = Hub.CreateTransport();
        var channel = new ReliableGroupChannel(transport, new GroupChannelOptions
        {
            ClusterId = _clusterId,
            NodeId = node.NodeId,
            HeartbeatInterval = t.Heartbeat,
            SuspectTimeout = t.Suspect,
            JoinTimeout = t.Join,
            JoinRetryInterval = TimeSpan.FromMilliseconds(50),
        }, node.Clock, _loggers);
        var options = new ClusterStoreOptions
        {
            NodeId = node.NodeId,
            ReplicationAcks = 1,
            CommitTimeout = t.Commit,
            LockWaitTimeout = t.LockWait,
            LockLease = t.LockLease,
            Locking = _schedule.Locking,
            ConflictPolicy = LockConflictPolicy.Wait,
            ReadConsistency = ReadConsistency.Latest,
            Backups = 1,
            DataDirectory = node.DataDirectory,
        };
        var logger = _loggers.CreateLogger($"Multicast.Stores.{node.NodeId}");
        IClusterStore store = _schedule.Store == StoreKind.Ring
            ? new RingClusterStore(channel, options, node.Clock, logger)
            : new ReplicatedClusterStore(channel, options, node.Clock, logger);
        if (_decorate is not null)
            store = _decorate(store);
        var manager = new SessionManager(store, new SessionOptions { MaxSessionBytes = t.MaxSessionBytes }, node.Clock);
        node.Transport = transport;
        node.Store = store;
        node.Manager = manager;
        node.State = NodeState.Starting;
        Note($"  node{node.Index + 1} starting ({transport.LocalAddress})");
        ApplyNetworkAndClocks(); // the new address is cut off like the old one
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(t.Settle);
            await manager.StartAsync(deadline.Token);
            node.State = NodeState.Up;
            Note($"  node{node.Index + 1} up");
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Note($"  node{node.Index + 1} failed to start: {ex.GetType().Name}: {ex.Message}");
            node.State = NodeState.Down;
            node.NextGeneration();
            node.Manager = null;
            node.Store = null;
            node.Transport = null;
            Hub.Crash(transport.LocalAddress);
            var dying = AwaitQuietlyAsync(manager.DisposeAsync().AsTask(), DisposeTimeout);
            node.Dying = dying;
            Track(dying);
        }
    }

    private async Task DisposeIncarnationAsync(NemesisNode node)
    {
        var manager = node.Manager;
        node.Manager = null;
        node.Store = null;
        node.State = NodeState.Down;
        if (node.Transport is { } t)
            Hub.Crash(t.LocalAddress); // no leave storm while every node goes
        node.Transport = null;
        if (manager is not null)
            await AwaitQuietlyAsync(manager.DisposeAsync().AsTask(), DisposeTimeout);
    }

    private static void Wipe(string directory)
    {
        for (var attempt = 0; Directory.Exists(directory); attempt++)
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException) when (attempt < 10)
            {
                // a file the dead incarnation's disposal is still closing
            }
        }
    }

    private void Track(Task task)
    {
        lock (_background)
            _background.Add(task);
    }

    /// <summary>Awaits a node's stop or disposal; its failure is the node's business (a crashed node's leftovers), not the harness's.</summary>
    private static async Task<bool> AwaitQuietlyAsync(Task task, TimeSpan timeout)
    {
        try
        {
            await task.WaitAsync(timeout);
            return true;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return false;
        }
    }
}
