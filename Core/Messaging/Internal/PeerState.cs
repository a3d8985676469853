namespace Multicast.Messaging.Internal;

/// <summary>Everything this node keeps about another member of its view.</summary>
internal sealed class PeerState
{
    public PeerState(Member member, long now)
    {
        Member = member;
        Key = MemberKey.Of(member);
        LastHeard = now;
        LastReceived = now;
        Broadcast = new ReceiveStream(this, unicast: false);
    }

    public Member Member { get; }

    public MemberKey Key { get; }

    /// <summary>When its last heartbeat that reported a working receive thread arrived (or when it entered the view).
    /// Other datagrams do not count: a member whose handler is stuck still sends acks and tails from its timer.</summary>
    public long LastHeard { get; set; }

    /// <summary>When anything last arrived from it (never credited for this node's own stalls): the store's lease.</summary>
    public long LastReceived { get; set; }

    public long LastViewId { get; set; }

    /// <summary>The id of the view in which this node created this state (admitted the member).</summary>
    public long CreatedInView { get; init; }

    /// <summary>The member dropped (or is about to drop) what it knew of this node — it left, was removed, or asked
    /// to join again: a view that still holds it gets fresh state on both sides.</summary>
    public bool Stale { get; set; }

    /// <summary>The id of the view in which this node last removed this member before it was admitted again
    /// (0: never): a Leave with an older epoch is a stale copy from that earlier membership.</summary>
    public long ReadmittedAfter { get; init; }

    /// <summary>Reported for holding a broadcast window (by this node or another): treated as suspected.</summary>
    public bool ReportedSlow { get; set; }

    /// <summary>Since when it has lacked the oldest packet of this node's broadcast window without acknowledging anything
    /// new (0: it is not behind). Checked at heartbeat intervals; reset by every acknowledgement that makes progress.</summary>
    public long BehindSince { get; set; }

    /// <summary>The running total of its own stalls (its timer not scheduled, in microseconds) its last heartbeat reported
    /// (-1: none yet).</summary>
    public long ReportedStallMicros { get; set; } = -1;

    /// <summary>When this node last asked the coordinator to remove it (0: never).</summary>
    public long SuspectSentAt { get; set; }

    /// <summary>Its broadcast stream, as received here.</summary>
    public ReceiveStream Broadcast { get; }

    /// <summary>Its unicast stream to this node, created on the first packet.</summary>
    public ReceiveStream? Unicast { get; set; }

    /// <summary>This node's unicast stream to it, created on the first send.</summary>
    public SendStream? UnicastSend { get; set; }

    /// <summary>The epoch of this node's unicast stream to it (announced with the stream start before the stream exists).</summary>
    public long UnicastEpoch { get; init; }

    /// <summary>When this node last told it where its streams start on request (a StartRequest, or a NAK of what it
    /// acknowledged), so a flood of requests costs one answer per interval.</summary>
    public long StartAnsweredAt { get; set; }

    // What it acknowledged of this node's broadcast stream. It joined after packet BaselinePacket and
    // message BaselineMessage: it never receives those, and must not be counted as having them.
    public long BaselinePacket { get; set; }

    public long BaselineMessage { get; set; }

    public long AckedPacket { get; set; }

    public long AckedMessage { get; set; }

    /// <summary>Whether it acknowledged anything yet (until then, heartbeats repeat where its stream starts).</summary>
    public bool StartConfirmed { get; set; }

    /// <summary>What this node may still repair of its broadcast stream for it (created on its first NAK).</summary>
    public RepairBudget? BroadcastRepairs { get; set; }

    /// <summary>What this node may still repair of its unicast stream to it (created on its first NAK of that stream).</summary>
    public RepairBudget? UnicastRepairs { get; set; }

    /// <summary>The NAK → repair round trip to it (for both of its streams): how long to wait before asking again.</summary>
    public RoundTripEstimator RepairRoundTrip { get; } = new();

    /// <summary>Whether a packet of its arrived late, after a later one and unasked: the path reorders, so a gap is
    /// NAKed only after the reorder guard even when the receive queue is empty.</summary>
    public bool Reorders { get; set; }
}
