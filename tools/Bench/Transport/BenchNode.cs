using System.Diagnostics;
using Multicast.Messaging;

namespace Multicast.Bench.Transport;

/// <summary>A benchmark receiver: counts deliveries and, when given latencies, records each message's age.</summary>
internal sealed class BenchNode : GroupHandler
{
    private long _delivered;
    private long _lastDelivery;
    private int _members;

    public Latencies? Latencies { get; set; }

    public long Delivered => Interlocked.Read(ref _delivered);

    public long LastDelivery => Interlocked.Read(ref _lastDelivery);

    public int Members => Volatile.Read(ref _members);

    public void Reset()
    {
        Interlocked.Exchange(ref _delivered, 0);
        Interlocked.Exchange(ref _lastDelivery, 0);
    }

    public override void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast)
    {
        Latencies?.Add(BenchNetwork.AgeOf(payload));
        Interlocked.Exchange(ref _lastDelivery, Stopwatch.GetTimestamp());
        Interlocked.Increment(ref _delivered);
    }

    public override void OnViewChanged(MembershipView view) => Volatile.Write(ref _members, view.Members.Count);
}
