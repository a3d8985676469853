using System.Diagnostics;
using Multicast.Messaging.Internal;
using Multicast.Transport;

namespace Multicast.Bench.Transport;

/// <summary>
/// Wraps a transport and drops a share of the datagrams it receives, at random. For each dropped data packet it
/// measures the repair latency: from the moment it was dropped to the arrival of the same packet again (the repair).
/// </summary>
internal sealed class LossyTransport(ITransport inner, double loss, Latencies repairs) : ITransport
{
    public string LocalAddress => inner.LocalAddress;

    public int MaxDatagramSize => inner.MaxDatagramSize;

    public bool IsLoopback => inner.IsLoopback;

    public long Dropped { get; private set; }

    public ValueTask StartAsync(IDatagramHandler handler, CancellationToken cancellationToken = default) =>
        inner.StartAsync(new Dropper(handler, loss, repairs, this), cancellationToken);

    public void SendToGroup(ReadOnlySpan<byte> datagram) => inner.SendToGroup(datagram);

    public void SendTo(string address, ReadOnlySpan<byte> datagram) => inner.SendTo(address, datagram);

    public void SendBatchToGroup(ReadOnlySpan<byte> datagrams, ReadOnlySpan<int> lengths) => inner.SendBatchToGroup(datagrams, lengths);

    public void SendBatchTo(string address, ReadOnlySpan<byte> datagrams, ReadOnlySpan<int> lengths) => inner.SendBatchTo(address, datagrams, lengths);

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private sealed class Dropper(IDatagramHandler handler, double loss, Latencies repairs, LossyTransport owner) : IDatagramHandler
    {
        // Packets dropped and not yet seen again: (sender, incarnation, packet sequence) -> drop timestamp.
        private readonly Dictionary<(uint, long, long), long> _lost = [];
        private readonly Random _random = new(12345);

        public void OnDatagram(ReadOnlySpan<byte> datagram)
        {
            var isData = PacketHeader.TryRead(datagram, out var header) && header.Kind == PacketKind.Data;
            var key = (header.SenderHash, header.Incarnation, header.Sequence);
            if (_random.NextDouble() < loss)
            {
                owner.Dropped++;
                if (isData)
                    _lost.TryAdd(key, Stopwatch.GetTimestamp());
                return;
            }
            if (isData && _lost.Remove(key, out var droppedAt))
                repairs.Add(Stopwatch.GetTimestamp() - droppedAt);
            handler.OnDatagram(datagram);
        }

        // Passed on: the channel NAKs and acknowledges when the receive queue runs empty.
        public void OnReceiveIdle() => handler.OnReceiveIdle();
    }
}
