using Multicast.Bench.Transport;
using Multicast.Messaging;
using Multicast.Transports.Udp;

namespace Multicast.Bench.TransportPeers;

/// <summary>The reliable group channel over <see cref="UdpMulticastTransport"/>: 1 sender + N receiver channels, defaults except socket buffers.</summary>
internal sealed class ReliableUdpPeers : PeerGroup
{
    private readonly List<ReliableGroupChannel> _channels = [];

    private ReliableUdpPeers(int receivers) : base(receivers)
    {
    }

    public override string Name => "reliable_udp";

    private ReliableGroupChannel Sender => _channels[0];

    public static async Task<ReliableUdpPeers> StartAsync(int receivers, CancellationToken cancellationToken, int datagramSize = GroupChannelOptions.DefaultDatagramSize)
    {
        var peers = new ReliableUdpPeers(receivers);
        try
        {
            var group = BenchNetwork.RandomGroup().ToString();
            var port = BenchNetwork.FreeUdpPort();
            var clusterId = $"bench-{Guid.NewGuid():N}";
            for (var i = 0; i <= receivers; i++)
            {
                var transport = new UdpMulticastTransport(new UdpTransportOptions
                {
                    Group = group,
                    Port = port,
                    Interface = "127.0.0.1",
                    ReceiveBufferBytes = 8 * 1024 * 1024,
                    SendBufferBytes = 4 * 1024 * 1024,
                    DatagramSize = datagramSize,
                });
                var channel = new ReliableGroupChannel(transport, new GroupChannelOptions
                {
                    ClusterId = clusterId,
                    NodeId = i == 0 ? "sender" : $"receiver{i}",
                    DatagramSize = datagramSize,
                });
                peers._channels.Add(channel);
                await channel.StartAsync(i == 0 ? new Ignore() : new Counting(peers, i - 1), cancellationToken);
            }
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(30));
            while (!peers._channels.All(c => c.View.Members.Count == receivers + 1))
                await Task.Delay(20, deadline.Token);
            return peers;
        }
        catch
        {
            await peers.DisposeAsync();
            throw;
        }
    }

    public ChannelCounters SenderCounters => Sender.Counters;

    public override async ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken) =>
        await Sender.BroadcastAsync(message, cancellationToken);

    public override async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
            await channel.DisposeAsync();
    }

    private sealed class Counting(ReliableUdpPeers peers, int index) : GroupHandler
    {
        public override void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast) => peers.Deliver(index, payload);
    }

    private sealed class Ignore : GroupHandler
    {
        public override void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast)
        {
        }
    }
}
