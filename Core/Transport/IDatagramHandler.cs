namespace Multicast.Transport;

/// <summary>Receives the datagrams of an <see cref="ITransport"/> on its receive thread.</summary>
public interface IDatagramHandler
{
    /// <summary>One received datagram; the span is valid only during the call. Must not throw and must not block.</summary>
    void OnDatagram(ReadOnlySpan<byte> datagram);

    /// <summary>
    /// Called on the receive thread after <see cref="OnDatagram"/> when no further datagram is waiting (the
    /// receive queue or socket is empty). The reliable channel sends its acknowledgements then, so a sender
    /// waiting for them hears back at once while bursts still share one ack. Transports should call it; a
    /// transport that does not only delays acknowledgements by the channel's ack interval. Must not throw.
    /// </summary>
    void OnReceiveIdle()
    {
    }
}
