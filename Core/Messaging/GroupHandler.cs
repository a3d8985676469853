namespace Multicast.Messaging;

/// <summary>
/// Receives what an <see cref="IGroupChannel"/> delivers. Every call is made on the transport's receive
/// thread, one at a time, so a handler sees messages and views in one order. Calls must not block:
/// replies are sent without awaiting.
/// </summary>
public abstract class GroupHandler
{
    /// <summary>A message, delivered once, in per-sender order (broadcasts and unicasts are separate streams).</summary>
    /// <param name="sender">The member that sent it.</param>
    /// <param name="sequence">The sender's sequence number for this message in its stream.</param>
    /// <param name="payload">The message; valid only during the call.</param>
    /// <param name="unicast">Whether it was sent to this member only.</param>
    public abstract void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast);

    /// <summary>A new view was installed. Messages delivered after this call were sent in it or later.</summary>
    public virtual void OnViewChanged(MembershipView view) { }

    /// <summary>
    /// This member found that the group removed it while it was alive (it was suspected during a pause or a
    /// one-way partition, or its group merged into another). Everything delivered before this call was sent in
    /// <paramref name="lastView"/> or earlier; the member rejoins at once, and the next
    /// <see cref="OnViewChanged"/> is the view it joins with, whose id is larger than <paramref name="lastView"/>'s.
    /// </summary>
    /// <param name="lastView">The last view this member had installed.</param>
    public virtual void OnExcluded(MembershipView lastView) { }
}
