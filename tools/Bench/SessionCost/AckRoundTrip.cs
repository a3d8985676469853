using System.Diagnostics;
using Multicast.Messaging;
using Multicast.Transports.Udp;

namespace Multicast.Bench.SessionCost;

/// <summary>
/// The channel alone, to locate the cost of a replicated write: one small broadcast, then wait until one other
/// member acknowledged it (what a commit with ReplicationAcks 1 waits for). 3 channels over UDP on loopback.
/// </summary>
internal static class AckRoundTrip
{
    public static async Task MeasureAsync(BenchReport report, string suffix, Action<GroupChannelOptions>? tune, TimeSpan duration, CancellationToken cancellationToken)
    {
        var group = Transport.BenchNetwork.RandomGroup().ToString();
        var port = Transport.BenchNetwork.FreeUdpPort();
        var clusterId = $"bench-{Guid.NewGuid():N}";
        var channels = new List<ReliableGroupChannel>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var transport = new UdpMulticastTransport(new UdpTransportOptions { Group = group, Port = port, Interface = "127.0.0.1" });
                var options = new GroupChannelOptions { ClusterId = clusterId, NodeId = $"ch{i}" };
                tune?.Invoke(options);
                var channel = new ReliableGroupChannel(transport, options);
                channels.Add(channel);
                await channel.StartAsync(new NullHandler(), cancellationToken);
            }
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                deadline.CancelAfter(TimeSpan.FromSeconds(30));
                while (!channels.All(c => c.View.Members.Count == 3))
                    await Task.Delay(20, deadline.Token);
            }

            var sender = channels[0];
            var message = new byte[64];
            foreach (var (name, acks) in new[] { ("channel_broadcast_ack1_roundtrip", 1), ("channel_broadcast_ack_all_roundtrip", 2) })
            {
                var latencies = new Latencies(1_000_000);
                var clock = Stopwatch.StartNew();
                long count = 0;
                while (clock.Elapsed < duration)
                {
                    var started = Stopwatch.GetTimestamp();
                    var sequence = await sender.BroadcastAsync(message, cancellationToken);
                    await sender.WaitForAcksAsync(sequence, acks, cancellationToken);
                    latencies.Add(Stopwatch.GetTimestamp() - started);
                    count++;
                }
                var result = report.Add(name + suffix).Set("requests", count).Set("cost_us", clock.Elapsed.TotalMilliseconds * 1000 / count);
                latencies.Report(result);
            }
        }
        finally
        {
            foreach (var channel in channels)
                await channel.DisposeAsync();
        }
    }

    private sealed class NullHandler : GroupHandler
    {
        public override void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast)
        {
        }
    }
}
