namespace Multicast.Transport;

/// <summary>Receives the datagrams of an <see cref="ITransport"/> on its receive thread.</summary>
public interface IDatagramHandler
{
    /// <summary>One received datagram; the span is valid only during the call. Must not throw and must not block.</summary>
    void OnDatagram(ReadOnlySpan<byte> datagram);
}
