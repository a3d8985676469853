namespace Multicast.Transports.ZeroMq;

/// <summary>What a <see cref="ZeroMqTransport"/> did, for tests, benchmarks and the node's figures. Updated with
/// interlocked operations; read with <see cref="Volatile"/> semantics through the properties.</summary>
internal sealed class ZeroMqCounters
{
    private long _groupSent;
    private long _unicastSent;
    private long _received;
    private long _dropped;
    private long _invalid;

    /// <summary>Datagrams handed to the PUB socket.</summary>
    public long GroupSent => Volatile.Read(ref _groupSent);

    /// <summary>Datagrams handed to a PUSH socket.</summary>
    public long UnicastSent => Volatile.Read(ref _unicastSent);

    /// <summary>Datagrams passed to the handler.</summary>
    public long Received => Volatile.Read(ref _received);

    /// <summary>Datagrams not sent: send queue full, PUSH at its high-water mark, bad address, not started or stopped.
    /// (PUB drops silently past its high-water mark; libzmq does not report those.)</summary>
    public long Dropped => Volatile.Read(ref _dropped);

    /// <summary>Received messages that were not one frame, dropped.</summary>
    public long Invalid => Volatile.Read(ref _invalid);

    internal void OnGroupSent() => Interlocked.Increment(ref _groupSent);

    internal void OnUnicastSent() => Interlocked.Increment(ref _unicastSent);

    internal void OnReceived() => Interlocked.Increment(ref _received);

    internal void OnDropped() => Interlocked.Increment(ref _dropped);

    internal void OnInvalid() => Interlocked.Increment(ref _invalid);
}
