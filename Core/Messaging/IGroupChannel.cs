namespace Multicast.Messaging;

/// <summary>
/// The reliable group channel: per-sender FIFO broadcast to every member of the view, reliable unicast,
/// numbered membership views and acknowledgements for write concerns. Written once, it runs over every
/// <see cref="Transport.ITransport"/>.
/// </summary>
/// <remarks>
/// <para>Ordering: messages from one sender are delivered in the order of the calls that sent them,
/// once each, to every member that stays in the view. There is no order across senders.</para>
/// <para>Sequence numbers are assigned when <see cref="BroadcastAsync"/> or <see cref="SendAsync"/> is
/// called, so calls made one after another from one thread are ordered even when not awaited. Neither
/// blocks its calling thread: when the send window is full the returned task completes once there is
/// room (flow control), or faults with <see cref="SendWindowFullException"/> after the send timeout.</para>
/// </remarks>
public interface IGroupChannel : IAsyncDisposable
{
    /// <summary>This member; valid after <see cref="StartAsync"/>. Once a view is installed it is this member as the
    /// view lists it: its <see cref="Member.RingIndex"/> is the one the coordinator assigned (unique within the view; it
    /// differs from <see cref="Member.RingIndexOf"/> of the node id only after a collision).</summary>
    Member LocalMember { get; }

    /// <summary>The current view.</summary>
    MembershipView View { get; }

    /// <summary>Starts the transport and joins the group; completes when the first view holding this member is installed
    /// and the handler's <see cref="GroupHandler.OnViewChanged"/> for it has returned.</summary>
    ValueTask StartAsync(GroupHandler handler, CancellationToken cancellationToken = default);

    /// <summary>Sends a message of any size (fragmented as needed) to every other member of the view.</summary>
    /// <returns>The message's sequence number in this member's broadcast stream.</returns>
    ValueTask<long> BroadcastAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default);

    /// <summary>Sends a message reliably to one member of the view.</summary>
    /// <exception cref="InvalidOperationException">No member with that node id is in the view.</exception>
    ValueTask SendAsync(string nodeId, ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default);

    /// <summary>
    /// Completes once <paramref name="members"/> other members of the view (or all other members, when fewer
    /// remain) have delivered every broadcast of this member up to <paramref name="sequence"/>.
    /// </summary>
    Task WaitForAcksAsync(long sequence, int members, CancellationToken cancellationToken = default);

    /// <summary>Leaves the group gracefully: peers install a view without this member at once.</summary>
    ValueTask LeaveAsync(CancellationToken cancellationToken = default);
}
