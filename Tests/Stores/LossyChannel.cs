using Multicast.Messaging;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

/// <summary>A group channel that loses the store messages a test names, on the sending side: the channel under it is
/// reliable, so this is how a test makes one message go missing (as a channel bug or a lost datagram the channel
/// never repaired would).</summary>
internal sealed class LossyChannel(IGroupChannel inner) : IGroupChannel
{
    private int _unicastsToDrop;
    private int _dropped;

    /// <summary>Unicasts matching this (the addressee, the message) are dropped (while <see cref="DropUnicasts"/> has some left).</summary>
    public Func<string, Envelope, bool> UnicastFilter { get; set; } = (_, _) => false;

    /// <summary>Broadcasts matching this are dropped, every one of them.</summary>
    public Func<Envelope, bool> BroadcastFilter { get; set; } = _ => false;

    /// <summary>How many unicasts matching <see cref="UnicastFilter"/> are still to be dropped.</summary>
    public void DropUnicasts(int count) => Volatile.Write(ref _unicastsToDrop, count);

    /// <summary>How many messages were dropped so far.</summary>
    public int Dropped => Volatile.Read(ref _dropped);

    public Member LocalMember => inner.LocalMember;

    public MembershipView View => inner.View;

    public ValueTask StartAsync(GroupHandler handler, CancellationToken cancellationToken = default) => inner.StartAsync(handler, cancellationToken);

    public ValueTask<long> BroadcastAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default)
    {
        if (Matches(message, BroadcastFilter))
        {
            Interlocked.Increment(ref _dropped);
            return ValueTask.FromResult(0L);
        }
        return inner.BroadcastAsync(message, cancellationToken);
    }

    public ValueTask SendAsync(string nodeId, ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default)
    {
        if (Volatile.Read(ref _unicastsToDrop) > 0 && Matches(message, e => UnicastFilter(nodeId, e)) && Interlocked.Decrement(ref _unicastsToDrop) >= 0)
        {
            Interlocked.Increment(ref _dropped);
            return ValueTask.CompletedTask;
        }
        return inner.SendAsync(nodeId, message, cancellationToken);
    }

    public Task WaitForAcksAsync(long sequence, int members, CancellationToken cancellationToken = default) => inner.WaitForAcksAsync(sequence, members, cancellationToken);

    public ValueTask LeaveAsync(CancellationToken cancellationToken = default) => inner.LeaveAsync(cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private static bool Matches(ReadOnlyMemory<byte> message, Func<Envelope, bool> filter) =>
        StoreCodec.TryDecode(message.Span, int.MaxValue, out var envelope) && filter(envelope);
}
