using System.Diagnostics;
using Multicast.Bench.Transport;

namespace Multicast.Bench.TransportPeers;

/// <summary>
/// One sender and its receivers over one mechanism (raw UDP, the reliable channel, libzmq epgm/norm). Messages carry
/// <see cref="BenchNetwork.Stamp"/>; a negative sequence marks warm-up traffic, which is not counted.
/// </summary>
internal abstract class PeerGroup : IAsyncDisposable
{
    protected PeerGroup(int receivers) => Receivers = Enumerable.Range(0, receivers).Select(_ => new ReceiverStats()).ToArray();

    private long _countFrom;

    public abstract string Name { get; }

    /// <summary>Whether the mechanism drops rather than pushes back when the sender outruns it (raw PUB/SUB, PGM,
    /// NORM): its throughput is then measured as the highest offered rate it delivers with at most 1% loss.</summary>
    public virtual bool Lossy => false;

    /// <summary>Messages with a lower sequence number (late ones of an earlier step) are not counted.</summary>
    public long CountFrom
    {
        get => Volatile.Read(ref _countFrom);
        set => Volatile.Write(ref _countFrom, value);
    }

    public ReceiverStats[] Receivers { get; }

    /// <summary>Sends one message to the group. Completes when the mechanism took it (it may still be in flight).</summary>
    public abstract ValueTask SendAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken);

    public abstract ValueTask DisposeAsync();

    /// <summary>Called by a receiver (on its own thread) for every message.</summary>
    protected void Deliver(int receiver, ReadOnlySpan<byte> message)
    {
        if (message.Length < BenchNetwork.StampSize)
            return;
        var stats = Receivers[receiver];
        var sequence = BenchNetwork.SequenceOf(message);
        if (sequence < 0)
        {
            Volatile.Write(ref stats.WarmedUp, true);
            return;
        }
        if (sequence < Volatile.Read(ref _countFrom))
            return;
        stats.Latencies?.Add(BenchNetwork.AgeOf(message));
        Interlocked.Exchange(ref stats.LastTimestamp, Stopwatch.GetTimestamp());
        Interlocked.Increment(ref stats.Received);
    }

    /// <summary>Sends warm-up messages until every receiver got one (NORM drops its first second or two; joins take a moment).</summary>
    public async Task WarmUpAsync(int size, CancellationToken cancellationToken)
    {
        var message = new byte[size];
        var clock = Stopwatch.StartNew();
        while (!Receivers.All(r => Volatile.Read(ref r.WarmedUp)))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(10))
                throw new TimeoutException($"{Name}: receivers got nothing in 10 s");
            BenchNetwork.Stamp(message, -1);
            await SendAsync(message, cancellationToken);
            await Task.Delay(5, cancellationToken);
        }
        // Let the warm-up traffic drain before counting.
        await Task.Delay(200, cancellationToken);
        foreach (var r in Receivers)
            r.Reset();
    }

    /// <summary>Waits until no receiver got anything for <paramref name="quiet"/> or every one has <paramref name="expected"/>, at most 15 s.</summary>
    public async Task WaitQuietAsync(long expected, TimeSpan quiet, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        long last = -1;
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            var now = Receivers.Sum(r => Interlocked.Read(ref r.Received));
            if (Receivers.All(r => Interlocked.Read(ref r.Received) >= expected))
                return;
            if (now == last)
                return;
            last = now;
            await Task.Delay(quiet, cancellationToken);
        }
    }

    internal sealed class ReceiverStats
    {
        public long Received;
        public long LastTimestamp;
        public bool WarmedUp;

        public Latencies? Latencies { get; set; }

        public void Reset()
        {
            Interlocked.Exchange(ref Received, 0);
            Interlocked.Exchange(ref LastTimestamp, 0);
        }
    }
}
