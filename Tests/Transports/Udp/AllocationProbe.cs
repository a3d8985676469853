using Multicast.Transport;

namespace Multicast.Tests.Transports.Udp;

/// <summary>Measures what the receive thread allocates between the warm-up datagrams and the end.</summary>
internal sealed class AllocationProbe(int warmUp, int measured) : IDatagramHandler
{
    private int _count;
    private long _start;
    private long _allocated = -1;

    public bool Done => Volatile.Read(ref _allocated) >= 0;

    public long Allocated => Volatile.Read(ref _allocated);

    public void OnDatagram(ReadOnlySpan<byte> datagram)
    {
        var count = ++_count;
        if (count == warmUp)
            _start = GC.GetAllocatedBytesForCurrentThread();
        else if (count == warmUp + measured)
            Volatile.Write(ref _allocated, GC.GetAllocatedBytesForCurrentThread() - _start);
    }
}
