using Multicast.Bench.Transport;

namespace Multicast.Bench.TransportPeers;

/// <summary>The ceiling: plain UDP multicast (<see cref="RawMulticast"/>), no reliability.</summary>
internal sealed class RawUdpPeers : PeerGroup
{
    private readonly RawMulticast _raw;

    public RawUdpPeers(int receivers) : base(receivers)
    {
        _raw = new RawMulticast(receivers, 8 * 1024 * 1024);
        for (var i = 0; i < receivers; i++)
        {
            var index = i;
            _raw.Receivers[i].OnMessage = m => Deliver(index, m);
        }
    }

    public override string Name => "raw_udp";

    public override ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        _raw.Send(message.Span);
        return ValueTask.CompletedTask;
    }

    public override ValueTask DisposeAsync()
    {
        _raw.Dispose();
        return ValueTask.CompletedTask;
    }
}
