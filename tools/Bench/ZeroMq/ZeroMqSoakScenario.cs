using System.Diagnostics;
using Multicast.Bench.TransportPeers;
using Multicast.Transport;
using Multicast.Transports.ZeroMq;
using NetMQ;

namespace Multicast.Bench.ZeroMq;

/// <summary>
/// Reconnect churn against a running NetMQ node, in a process of its own (so that other work does not blur the
/// figures): a peer with the same endpoints (a static peer list) is started, exchanges group and unicast datagrams
/// with the node both ways, and is disposed, N times. The process's managed heap (after a full collection), thread
/// count and open file descriptors are sampled as it goes; then an idle node's CPU use is measured (the bare
/// transport, and a two-node reliable channel that heartbeats); last, a transport whose start fails (its endpoint in
/// use) and the node are disposed, and <see cref="NetMQConfig.Cleanup(bool)"/> must return.
/// </summary>
internal sealed class ZeroMqSoakScenario : IBenchScenario
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(2);
    private static readonly double ConnectionMonitorWindowMs = ConnectionMonitor.HandshakeWindow.TotalMilliseconds;

    public string Name => "zeromq-soak";

    public string Description => "a NetMQ peer restarted N times against a running node: heap, threads, fds; idle CPU; NetMQConfig.Cleanup [--restarts 200 --idle-seconds 5 --warmup 10]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var restarts = arguments.GetInt("restarts", 200);
        var warmUp = Math.Min(arguments.GetInt("warmup", 10), restarts);
        var idle = TimeSpan.FromSeconds(arguments.GetDouble("idle-seconds", 5));
        var report = new BenchReport();
        report.Notes.Add($"One running node; a peer with fixed endpoints started and disposed {restarts} times, each time exchanging a group and a unicast datagram both ways. Samples: after warm-up restart {warmUp} (baseline), then every {Math.Max(1, restarts / 10)}; heap = GC.GetTotalMemory after a full collection.");

        var nodePort = TcpPorts.Free();
        var peerPublish = $"tcp://127.0.0.1:{TcpPorts.Free()}";
        var peerUnicast = $"tcp://127.0.0.1:{TcpPorts.Free()}";
        var nodeOptions = new ZeroMqTransportOptions { PublishEndpoint = $"tcp://127.0.0.1:{nodePort}" };
        nodeOptions.Peers.Add(peerPublish);
        var nodeHandler = new LastDatagram();
        var node = new ZeroMqTransport(nodeOptions);
        await node.StartAsync(nodeHandler, cancellationToken);

        var baseline = Sample.Take();
        var samples = report.Add("zeromq_soak_samples");
        var clock = Stopwatch.StartNew();
        var completed = 0;
        for (var i = 1; i <= restarts; i++)
        {
            var peerOptions = new ZeroMqTransportOptions { PublishEndpoint = peerPublish, UnicastEndpoint = peerUnicast };
            peerOptions.Peers.Add(node.PublishAddress);
            var peerHandler = new LastDatagram();
            var peer = new ZeroMqTransport(peerOptions);
            try
            {
                await peer.StartAsync(peerHandler, cancellationToken);
                await ExchangeAsync(node, nodeHandler, peer, peerHandler, i, cancellationToken);
                completed++;
            }
            finally
            {
                await peer.DisposeAsync();
            }
            if (i == warmUp)
                baseline = Sample.Take();
            if (i > warmUp && (i % Math.Max(1, restarts / 10) == 0 || i == restarts))
                Sample.Take().Into(samples, $"at_{i}");
        }
        var churnSeconds = clock.Elapsed.TotalSeconds;
        var end = Sample.Take();
        baseline.Into(samples, "baseline");
        report.Add("zeromq_soak")
            .Set("restarts", restarts)
            .Set("restarts_completed", completed)
            .Set("restarts_per_s", completed / churnSeconds)
            .Set("heap_baseline_mb", baseline.HeapMb)
            .Set("heap_end_mb", end.HeapMb)
            .Set("heap_growth_mb", end.HeapMb - baseline.HeapMb)
            .Set("threads_baseline", baseline.Threads)
            .Set("threads_end", end.Threads)
            .Set("threads_growth", end.Threads - baseline.Threads)
            .Set("fds_baseline", baseline.FileDescriptors)
            .Set("fds_end", end.FileDescriptors)
            .Set("fds_growth", end.FileDescriptors - baseline.FileDescriptors)
            .Set("node_refused", node.Counters.Refused)
            .Set("node_dropped", node.Counters.Dropped);

        // Let the churn's tail (finalizers, tiered JIT, the node's reconnect back-off to the departed peer) settle.
        await Task.Delay(Settle, cancellationToken);
        var idleNode = await IdleCpuAsync(idle, cancellationToken);
        var idleChannels = await IdleChannelCpuAsync(idle, cancellationToken);
        report.Add("zeromq_idle_cpu")
            .Set("transport_pct_of_a_core", idleNode)
            .Set("channel_node_pct_of_a_core", (idleChannels - idleNode) / 2)
            .Set("process_with_two_channel_nodes_pct_of_a_core", idleChannels)
            .Set("seconds", idle.TotalSeconds);
        report.Notes.Add($"Idle CPU: process CPU time / wall time over {idle.TotalSeconds} s, in percent of one core, {Settle.TotalSeconds} s after the churn: transport = the churn's node alone (a NetMQ transport, nothing sent, its peer gone); channel_node = one of two reliable channels over NetMQ added to the process (heartbeats every 500 ms), (process - transport) / 2. Goal: under 1 % per node. The figure includes the runtime's own background work.");
        report.Notes.Add($"node_refused counts connections that ended within {ConnectionMonitorWindowMs} ms of opening: here the churned peer's own short-lived connections (a peer that leaves that fast cannot be told from a refused one), not an error.");

        // A start that fails (its endpoint is in use) must leave nothing behind for Cleanup either.
        var failedStartThrew = false;
        var failed = new ZeroMqTransport(new ZeroMqTransportOptions { PublishEndpoint = node.PublishAddress });
        try
        {
            await failed.StartAsync(new LastDatagram(), cancellationToken);
        }
        catch (ZeroMqException)
        {
            failedStartThrew = true;
        }
        finally
        {
            await failed.DisposeAsync();
        }

        await node.DisposeAsync();
        var cleanup = Stopwatch.StartNew();
        var cleaned = Task.Run(() => NetMQConfig.Cleanup(block: true), CancellationToken.None);
        var done = await Task.WhenAny(cleaned, Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None)) == cleaned;
        report.Add("zeromq_cleanup").Set("completed", done ? 1 : 0).Set("ms", cleanup.Elapsed.TotalMilliseconds).Set("failed_start_threw", failedStartThrew ? 1 : 0);
        if (!done)
            report.Notes.Add("NetMQConfig.Cleanup(block: true) did not return within 10 s: a socket was left open.");
        return report;
    }

    /// <summary>Group and unicast, both ways, each sent again until it arrives (the peer just started: PUB/SUB drops
    /// until the subscriptions are through).</summary>
    private static async Task ExchangeAsync(ZeroMqTransport node, LastDatagram nodeHandler, ZeroMqTransport peer, LastDatagram peerHandler, int round,
        CancellationToken cancellationToken)
    {
        var tag = BitConverter.GetBytes(round);
        byte[] Message(byte kind) => [kind, .. tag];
        await UntilAsync(() => peerHandler.Saw(Message(1)), () => node.SendToGroup(Message(1)), "node -> peer group", cancellationToken);
        await UntilAsync(() => nodeHandler.Saw(Message(2)), () => peer.SendToGroup(Message(2)), "peer -> node group", cancellationToken);
        await UntilAsync(() => peerHandler.Saw(Message(3)), () => node.SendTo(peer.LocalAddress, Message(3)), "node -> peer unicast", cancellationToken);
        await UntilAsync(() => nodeHandler.Saw(Message(4)), () => peer.SendTo(node.LocalAddress, Message(4)), "peer -> node unicast", cancellationToken);
    }

    private static async Task UntilAsync(Func<bool> arrived, Action send, string what, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (!arrived())
        {
            if (clock.Elapsed > StepTimeout)
                throw new TimeoutException($"zeromq-soak: {what} did not arrive within {StepTimeout.TotalSeconds} s");
            send();
            for (var i = 0; i < 10 && !arrived(); i++)
                await Task.Delay(2, cancellationToken);
        }
    }

    private static async Task<double> IdleCpuAsync(TimeSpan idle, CancellationToken cancellationToken)
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var cpu = process.TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        await Task.Delay(idle, cancellationToken);
        process.Refresh();
        return 100 * (process.TotalProcessorTime - cpu).TotalSeconds / wall.Elapsed.TotalSeconds;
    }

    private static async Task<double> IdleChannelCpuAsync(TimeSpan idle, CancellationToken cancellationToken)
    {
        await using var pair = await ReliablePeers.StartNetMqAsync(1, cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
        return await IdleCpuAsync(idle, cancellationToken);
    }

    /// <summary>Remembers every datagram it was given (a handful per round).</summary>
    private sealed class LastDatagram : IDatagramHandler
    {
        private readonly HashSet<string> _seen = [];

        public bool Saw(byte[] datagram)
        {
            lock (_seen)
                return _seen.Contains(Convert.ToHexString(datagram));
        }

        public void OnDatagram(ReadOnlySpan<byte> datagram)
        {
            lock (_seen)
            {
                if (_seen.Count > 10_000)
                    _seen.Clear();
                _seen.Add(Convert.ToHexString(datagram));
            }
        }
    }

    private readonly record struct Sample(double HeapMb, int Threads, int FileDescriptors)
    {
        public static Sample Take()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            using var process = Process.GetCurrentProcess();
            var fds = Directory.Exists("/proc/self/fd") ? Directory.GetFiles("/proc/self/fd").Length : -1;
            return new Sample(GC.GetTotalMemory(forceFullCollection: true) / 1e6, process.Threads.Count, fds);
        }

        public void Into(BenchResult result, string prefix) =>
            result.Set($"{prefix}_heap_mb", HeapMb).Set($"{prefix}_threads", Threads).Set($"{prefix}_fds", FileDescriptors);
    }
}
