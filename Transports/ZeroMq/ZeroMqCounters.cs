namespace Multicast.Transports.ZeroMq;

/// <summary>What a <see cref="ZeroMqTransport"/> did, for tests, benchmarks and the node's figures. Updated with
/// interlocked operations; read with <see cref="Volatile"/> semantics through the properties.</summary>
internal sealed class ZeroMqCounters
{
    private long _groupSent;
    private long _unicastSent;
    private long _messagesSent;
    private long _received;
    private long _dropped;
    private long _invalid;
    private long _refused;

    /// <summary>Datagrams handed to the PUB socket.</summary>
    public long GroupSent => Volatile.Read(ref _groupSent);

    /// <summary>Datagrams handed to a DEALER socket (or delivered to this node's own address).</summary>
    public long UnicastSent => Volatile.Read(ref _unicastSent);

    /// <summary>ZeroMQ messages handed to the PUB or a DEALER: a datagram, or a batch of several.</summary>
    public long MessagesSent => Volatile.Read(ref _messagesSent);

    /// <summary>Datagrams passed to the handler.</summary>
    public long Received => Volatile.Read(ref _received);

    /// <summary>Datagrams not sent: send queue full, a DEALER at its high-water mark, not started or
    /// stopped. (PUB drops silently past its high-water mark; ZeroMQ does not report those.)</summary>
    public long Dropped => Volatile.Read(ref _dropped);

    /// <summary>Received messages that were neither one datagram frame nor a batch (on the ROUTER: after an identity),
    /// dropped; a batch that ended in a malformed entry counts once.</summary>
    public long Invalid => Volatile.Read(ref _invalid);

    /// <summary>Connections NetMQ closed within <see cref="ConnectionMonitor.HandshakeWindow"/> of opening them: a
    /// peer with another CURVE key or none, a peer that does not speak ZMTP, or one that went away at once. Nothing
    /// of them is delivered.</summary>
    public long Refused => Volatile.Read(ref _refused);

    internal void OnGroupSent(int count = 1) => Interlocked.Add(ref _groupSent, count);

    internal void OnUnicastSent(int count = 1) => Interlocked.Add(ref _unicastSent, count);

    internal void OnMessageSent() => Interlocked.Increment(ref _messagesSent);

    internal void OnReceived() => Interlocked.Increment(ref _received);

    internal void OnDropped(int count = 1) => Interlocked.Add(ref _dropped, count);

    internal void OnInvalid() => Interlocked.Increment(ref _invalid);

    internal void OnRefused() => Interlocked.Increment(ref _refused);
}
