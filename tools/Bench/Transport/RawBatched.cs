using System.Diagnostics;
using Multicast.Transport;
using Multicast.Transports.Udp;

namespace Multicast.Bench.Transport;

/// <summary>
/// Raw UDP multicast through <see cref="UdpMulticastTransport"/> without the channel: no header, no reliability, the
/// same system calls the reliable path uses. The sender hands batches of datagrams to
/// <see cref="ITransport.SendBatchToGroup"/> (one sendmmsg(2), with segmentation offload one UDP_SEGMENT buffer per
/// batch); each receiver counts what its transport delivers (recvmmsg(2), with offload UDP_GRO buffers).
/// The fair baseline for a reliable path that batches the same way.
/// </summary>
internal static class RawBatched
{
    public static async Task<BenchResult> ThroughputAsync(string name, int size, int batch, bool offload, int receivers, int bufferBytes, TimeSpan duration, CancellationToken cancellationToken)
    {
        var options = new UdpTransportOptions
        {
            Group = BenchNetwork.RandomGroup().ToString(),
            Port = BenchNetwork.FreeUdpPort(),
            ReceiveBufferBytes = bufferBytes,
            SendBufferBytes = bufferBytes,
            Offload = offload,
        };
        var counters = Enumerable.Range(0, receivers).Select(_ => new Counter()).ToArray();
        var transports = new List<UdpMulticastTransport>();
        try
        {
            var sender = new UdpMulticastTransport(options);
            transports.Add(sender);
            await sender.StartAsync(new Counter(), cancellationToken);
            foreach (var counter in counters)
            {
                var receiver = new UdpMulticastTransport(options);
                transports.Add(receiver);
                await receiver.StartAsync(counter, cancellationToken);
            }

            var buffer = new byte[size * batch];
            var lengths = Enumerable.Repeat(size, batch).ToArray();
            long sent = 0;
            var cpu = Environment.CpuUsage.TotalTime;
            var start = Stopwatch.GetTimestamp();
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
            {
                for (var i = 0; i < batch; i++)
                    BenchNetwork.Stamp(buffer.AsSpan(i * size, size), sent++);
                sender.SendBatchToGroup(buffer, lengths);
            }
            var sendSeconds = clock.Elapsed.TotalSeconds;
            await WaitQuietAsync(counters, TimeSpan.FromMilliseconds(200));
            var cpuSeconds = (Environment.CpuUsage.TotalTime - cpu).TotalSeconds;

            var received = counters.Min(c => c.Received);
            var result = new BenchResult { Name = name }
                .Set("batch", batch)
                .Set("segmentation_offload", sender.SegmentationOffload ? 1 : 0)
                .Set("messages_sent", sent)
                .Set("sent_per_s", sent / sendSeconds)
                .Set("send_system_calls", sender.SendSystemCalls)
                .Set("messages_per_s", counters.Min(c => c.Received / Stopwatch.GetElapsedTime(start, c.LastTimestamp).TotalSeconds))
                .Set("loss_pct", 100.0 * (sent - received) / sent);
            result.Set("mb_per_s", result.Figures["messages_per_s"] * size / 1e6);
            TransportScenario.SetCosts(result, sent, cpuSeconds, sender.SendSystemCalls, transports.Skip(1).Sum(t => t.ReceiveSystemCalls));
            return result;
        }
        finally
        {
            foreach (var transport in transports)
                await transport.DisposeAsync();
        }
    }

    private static async Task WaitQuietAsync(Counter[] counters, TimeSpan quiet)
    {
        long last = -1;
        while (true)
        {
            var now = counters.Sum(c => c.Received);
            if (now == last)
                return;
            last = now;
            await Task.Delay(quiet);
        }
    }

    private sealed class Counter : IDatagramHandler
    {
        private long _received;
        private long _lastTimestamp;

        public long Received => Interlocked.Read(ref _received);

        public long LastTimestamp => Interlocked.Read(ref _lastTimestamp);

        public void OnDatagram(ReadOnlySpan<byte> datagram)
        {
            Interlocked.Exchange(ref _lastTimestamp, Stopwatch.GetTimestamp());
            Interlocked.Increment(ref _received);
        }
    }
}
