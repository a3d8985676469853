namespace Multicast.Transport;

/// <summary>Checks of the batch layout of <see cref="ITransport.SendBatchToGroup"/>,
/// shared by the transports.</summary>
internal static class TransportBatch
{
    /// <summary>Throws unless every length is positive or zero and together they fit <paramref name="available"/> bytes.</summary>
    /// <returns>The sum of the lengths.</returns>
    public static int Check(int available, ReadOnlySpan<int> lengths)
    {
        long total = 0;
        foreach (var length in lengths)
        {
            if (length < 0)
                throw new ArgumentException("A datagram length is negative.", nameof(lengths));
            total += length;
        }
        if (total > available)
            throw new ArgumentException($"The lengths add up to {total} bytes; the batch holds {available}.", nameof(lengths));
        return (int)total;
    }
}
