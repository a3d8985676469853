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
        sendErrors;

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

    /// <inheritdoc />
    public override string ToString() =>
        $"sent {DatagramsSent} received {DatagramsReceived} delivered {Delivered} naks {NaksSent}/{NaksReceived} " +
        $"retransmissions {Retransmissions} (multicast {MulticastRepairs}) duplicates {Duplicates} rejected " +
        $"malformed {RejectedMalformed} forged {RejectedForged} replayed {RejectedReplayed} oversize {RejectedOversize} " +
        $"foreign {RejectedForeignCluster} unknown {UnknownSender} views {ViewChanges}";
}
