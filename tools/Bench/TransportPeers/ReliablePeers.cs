using Multicast.Bench.Transport;
using Multicast.Messaging;
using Multicast.Transport;
using Multicast.Transports.Udp;
using Multicast.Transports.ZeroMq;

namespace Multicast.Bench.TransportPeers;

/// <summary>The reliable group channel, 1 sender + N receiver channels with default options, over UDP multicast
/// (<see cref="StartUdpAsync"/>) or the NetMQ transport (<see cref="StartNetMqAsync"/>).</summary>
internal sealed class ReliablePeers : PeerGroup
{
    private readonly List<ReliableGroupChannel> _channels = [];
    private readonly List<ITransport> _transports = [];
    private readonly string _name;

    private ReliablePeers(string name, int receivers) : base(receivers) => _name = name;

    public override string Name => _name;

    private ReliableGroupChannel Sender => _channels[0];

    public ChannelCounters SenderCounters => Sender.Counters;

    /// <summary>Datagrams the NetMQ transports dropped before the wire (a full send queue, a DEALER at its high-water
    /// mark) and received malformed, summed over the nodes; zero over UDP. Datagrams per ZeroMQ message sent (batches
    /// carry several), over the nodes; NaN over UDP.</summary>
    public (long Dropped, long Invalid, double DatagramsPerMessage) ZeroMqCounters
    {
        get
        {
            var nodes = _transports.OfType<ZeroMqTransport>().ToArray();
            var messages = nodes.Sum(t => t.Counters.MessagesSent);
            return (nodes.Sum(t => t.Counters.Dropped), nodes.Sum(t => t.Counters.Invalid),
                messages == 0 ? double.NaN : (double)nodes.Sum(t => t.Counters.GroupSent + t.Counters.UnicastSent) / messages);
        }
    }

    /// <summary>Over <see cref="UdpMulticastTransport"/> on a random loopback group, socket buffers raised.</summary>
    public static Task<ReliablePeers> StartUdpAsync(int receivers, CancellationToken cancellationToken, int datagramSize = GroupChannelOptions.DefaultDatagramSize)
    {
        var group = BenchNetwork.RandomGroup().ToString();
        var port = BenchNetwork.FreeUdpPort();
        return StartAsync(datagramSize == GroupChannelOptions.DefaultDatagramSize ? "reliable_udp" : "reliable_udp_jumbo", receivers, datagramSize, _ => new UdpMulticastTransport(new UdpTransportOptions
        {
            Group = group,
            Port = port,
            Interface = "127.0.0.1",
            ReceiveBufferBytes = 8 * 1024 * 1024,
            SendBufferBytes = 4 * 1024 * 1024,
            DatagramSize = datagramSize,
        }), cancellationToken);
    }

    /// <summary>Over <see cref="ZeroMqTransport"/> (NetMQ) on loopback TCP: every node is given the whole peer list
    /// before it starts, as a deployment's static configuration would, with the default high-water marks.</summary>
    public static Task<ReliablePeers> StartNetMqAsync(int receivers, CancellationToken cancellationToken, string? curveServerSecretKey = null,
        int highWaterMark = ZeroMqTransportOptions.DefaultHighWaterMark)
    {
        var ports = Enumerable.Range(0, receivers + 1).Select(_ => TcpPorts.Free()).ToArray();
        return StartAsync(curveServerSecretKey is null ? "reliable_netmq" : "reliable_netmq_curve", receivers, GroupChannelOptions.DefaultDatagramSize, i =>
        {
            var options = new ZeroMqTransportOptions
            {
                PublishEndpoint = $"tcp://127.0.0.1:{ports[i]}",
                CurveServerSecretKey = curveServerSecretKey,
                SendHighWaterMark = highWaterMark,
                ReceiveHighWaterMark = highWaterMark,
            };
            foreach (var port in ports)
                options.Peers.Add($"tcp://127.0.0.1:{port}");
            return new ZeroMqTransport(options);
        }, cancellationToken);
    }

    private static async Task<ReliablePeers> StartAsync(string name, int receivers, int datagramSize, Func<int, ITransport> transport, CancellationToken cancellationToken)
    {
        var peers = new ReliablePeers(name, receivers);
        try
        {
            var clusterId = $"bench-{Guid.NewGuid():N}";
            for (var i = 0; i <= receivers; i++)
            {
                var node = transport(i);
                peers._transports.Add(node);
                var channel = new ReliableGroupChannel(node, new GroupChannelOptions
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

    public override async ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken) =>
        await Sender.BroadcastAsync(message, cancellationToken);

    public override async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
            await channel.DisposeAsync();
    }

    private sealed class Counting(ReliablePeers peers, int index) : GroupHandler
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
