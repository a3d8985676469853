using Multicast.Transport;
using Multicast.Transports.ZeroMq;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>
/// Transports on free loopback ports that find each other: as each one starts, its SUB is connected to every PUB
/// already started and theirs to its own (what a static <c>Cluster:ZeroMq:Peers</c> list does when ports are known
/// in advance). Lets code that creates and starts transports itself (the channel) run over real ZeroMQ sockets.
/// </summary>
internal sealed class ZeroMqTestNetwork
{
    private readonly object _gate = new();
    private readonly List<ZeroMqTransport> _started = [];
    private readonly Action<ZeroMqTransportOptions>? _configure;

    public ZeroMqTestNetwork(Action<ZeroMqTransportOptions>? configure = null) => _configure = configure;

    public IReadOnlyList<ZeroMqTransport> Started
    {
        get
        {
            lock (_gate)
                return [.. _started];
        }
    }

    public ITransport CreateTransport()
    {
        var options = ZeroMqTestHelpers.LoopbackOptions();
        _configure?.Invoke(options);
        return new Peered(new ZeroMqTransport(options), this);
    }

    /// <summary>The ZeroMQ transport behind one that <see cref="CreateTransport"/> made.</summary>
    public static ZeroMqTransport Inner(ITransport transport) => ((Peered)transport).Inner;

    private void OnStarted(ZeroMqTransport transport)
    {
        lock (_gate)
        {
            foreach (var other in _started)
            {
                other.AddPeer(transport.PublishAddress);
                transport.AddPeer(other.PublishAddress);
            }
            _started.Add(transport);
        }
    }

    private void OnDisposed(ZeroMqTransport transport)
    {
        lock (_gate)
            _started.Remove(transport);
    }

    /// <summary>Delegates everything to the ZeroMQ transport; only adds the peering after start.</summary>
    private sealed class Peered(ZeroMqTransport inner, ZeroMqTestNetwork network) : ITransport
    {
        public ZeroMqTransport Inner => inner;

        public string LocalAddress => inner.LocalAddress;

        public int MaxDatagramSize => inner.MaxDatagramSize;

        public bool IsLoopback => inner.IsLoopback;

        public async ValueTask StartAsync(IDatagramHandler handler, CancellationToken cancellationToken = default)
        {
            await inner.StartAsync(handler, cancellationToken);
            network.OnStarted(inner);
        }

        public void SendToGroup(ReadOnlySpan<byte> datagram) => inner.SendToGroup(datagram);

        public void SendTo(string address, ReadOnlySpan<byte> datagram) => inner.SendTo(address, datagram);

        public async ValueTask DisposeAsync()
        {
            network.OnDisposed(inner);
            await inner.DisposeAsync();
        }
    }
}
