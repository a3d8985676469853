namespace Multicast.Messaging;

/// <summary>
/// What a <see cref="ReliableGroupChannel"/> has done since it was created. Thread-safe; read at any time.
/// Also published as observable counters on the <c>Multicast</c> meter (see docs/messaging.md).
/// </summary>
public sealed class ChannelCounters
{
    internal long datagramsSent, datagramsReceived, messagesSent, delivered, naksSent, naksReceived,
        retransmissions, multicastRepairs, duplicates, rejectedMalformed, rejectedForged, rejectedReplayed,
        rejectedOversize, rejectedForeignCluster, unknownSender, viewChanges, sendWindowTimeouts, handlerErrors,
        sendErrors, rejectedMembership, rejectedAcks, viewRetransmissions, slowMembers, localStalls, exclusions,
        repairsThrottled, staleStream;

    /// <summary>Datagrams handed to the transport (data, repairs and control).</summary>
    public long DatagramsSent => Volatile.Read(ref datagramsSent);

    /// <summary>Datagrams the transport delivered to this channel, valid or not.</summary>
    public long DatagramsReceived => Volatile.Read(ref datagramsReceived);

    /// <summary>Messages accepted by BroadcastAsync and SendAsync.</summary>
    public long MessagesSent => Volatile.Read(ref messagesSent);

    /// <summary>Messages delivered to the handler.</summary>
    public long Delivered => Volatile.Read(ref delivered);

    /// <summary>NAK datagrams this node sent (each lists missing ranges of one stream).</summary>
    public long NaksSent => Volatile.Read(ref naksSent);

    /// <summary>NAK datagrams this node received as a sender.</summary>
    public long NaksReceived => Volatile.Read(ref naksReceived);

    /// <summary>Packets sent again to repair a loss (by unicast or multicast).</summary>
    public long Retransmissions => Volatile.Read(ref retransmissions);

    /// <summary>Of <see cref="Retransmissions"/>, those multicast because several receivers missed the packet.</summary>
    public long MulticastRepairs => Volatile.Read(ref multicastRepairs);

    /// <summary>Valid data packets received a second time (network duplicates or crossed repairs); ignored.</summary>
    public long Duplicates => Volatile.Read(ref duplicates);

    /// <summary>Datagrams dropped because they were truncated, garbage, or had an unknown magic, version or kind.</summary>
    public long RejectedMalformed => Volatile.Read(ref rejectedMalformed);

    /// <summary>Datagrams dropped because their authentication tag did not verify (or they lacked one).</summary>
    public long RejectedForged => Volatile.Read(ref rejectedForged);

    /// <summary>Datagrams dropped because their counter was seen before or is too old (replays, network duplicates).</summary>
    public long RejectedReplayed => Volatile.Read(ref rejectedReplayed);

    /// <summary>Datagrams dropped because they were larger than the configured datagram size.</summary>
    public long RejectedOversize => Volatile.Read(ref rejectedOversize);

    /// <summary>Datagrams of another cluster sharing the group or port; ignored.</summary>
    public long RejectedForeignCluster => Volatile.Read(ref rejectedForeignCluster);

    /// <summary>Data, acks and NAKs from a sender that is not in this node's view (not yet, or no longer); ignored.</summary>
    public long UnknownSender => Volatile.Read(ref unknownSender);

    /// <summary>Views installed.</summary>
    public long ViewChanges => Volatile.Read(ref viewChanges);

    /// <summary>Sends that faulted with <see cref="SendWindowFullException"/>.</summary>
    public long SendWindowTimeouts => Volatile.Read(ref sendWindowTimeouts);

    /// <summary>Exceptions thrown by the <see cref="GroupHandler"/> (logged and swallowed).</summary>
    public long HandlerErrors => Volatile.Read(ref handlerErrors);

    /// <summary>Datagrams the transport refused to send (logged).</summary>
    public long SendErrors => Volatile.Read(ref sendErrors);

    /// <summary>Well-formed membership messages that were not believed: a view not from the coordinator it names or from
    /// outside this member's view, an implausible view id, a Leave for another incarnation or an earlier membership.</summary>
    public long RejectedMembership => Volatile.Read(ref rejectedMembership);

    /// <summary>Acknowledgements that claimed more than this node sent; dropped (they would free packets never delivered).</summary>
    public long RejectedAcks => Volatile.Read(ref rejectedAcks);

    /// <summary>View datagrams sent again (to members that had not confirmed the view, or to this node's own receive thread).</summary>
    public long ViewRetransmissions => Volatile.Read(ref viewRetransmissions);

    /// <summary>Members this node reported (and asked the coordinator to remove) for holding its broadcast window.</summary>
    public long SlowMembers => Volatile.Read(ref slowMembers);

    /// <summary>Times this node found that it had itself stalled (its timer ran late, or its receive thread was stuck) and
    /// so did not count that time against its peers' silence.</summary>
    public long LocalStalls => Volatile.Read(ref localStalls);

    /// <summary>Times this member found that the group had removed it while it was alive (then it rejoined).</summary>
    public long Exclusions => Volatile.Read(ref exclusions);

    /// <summary>Packets asked for in NAKs but not repaired because the asker had used up its repair budget for that stream
    /// (a NAK storm: see docs/messaging.md, "Repair budgets").</summary>
    public long RepairsThrottled => Volatile.Read(ref repairsThrottled);

    /// <summary>Data, tails, stream starts, acks and NAKs of a stream epoch other than the one followed: a member's
    /// previous stream, from before it or this node rejoined or merged (see docs/messaging.md, "Stream epochs"); ignored.</summary>
    public long StaleStream => Volatile.Read(ref staleStream);

    /// <inheritdoc />
    public override string ToString() =>
        $"sent {DatagramsSent} received {DatagramsReceived} delivered {Delivered} naks {NaksSent}/{NaksReceived} " +
        $"retransmissions {Retransmissions} (multicast {MulticastRepairs}) duplicates {Duplicates} rejected " +
        $"malformed {RejectedMalformed} forged {RejectedForged} replayed {RejectedReplayed} oversize {RejectedOversize} " +
        $"foreign {RejectedForeignCluster} unknown {UnknownSender} membership {RejectedMembership} acks {RejectedAcks} " +
        $"views {ViewChanges} (resent {ViewRetransmissions}) slow {SlowMembers} stalls {LocalStalls} exclusions {Exclusions} throttled {RepairsThrottled} stale {StaleStream}";
}
