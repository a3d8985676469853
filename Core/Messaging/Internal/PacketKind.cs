namespace Multicast.Messaging.Internal;

/// <summary>What a datagram carries. The values are on the wire: never renumber.</summary>
internal enum PacketKind : byte
{
    /// <summary>A packet of the sender's broadcast stream.</summary>
    Data = 1,

    /// <summary>A packet of the sender's unicast stream to the addressee.</summary>
    UnicastData = 2,

    /// <summary>Liveness, the sender's view and its stream tails.</summary>
    Heartbeat = 3,

    /// <summary>The highest packet sequence of one stream, sent shortly after the last send.</summary>
    Tail = 4,

    /// <summary>A receiver asks the sender to repair ranges of one stream.</summary>
    Nak = 5,

    /// <summary>A receiver's cumulative acknowledgement of one stream.</summary>
    Ack = 6,

    /// <summary>A new member asks the coordinator for a view.</summary>
    Join = 7,

    /// <summary>A numbered view, installed by the coordinator.</summary>
    View = 8,

    /// <summary>A member leaves gracefully.</summary>
    Leave = 9,

    /// <summary>Where the sender's streams start for a new member: its broadcast stream (epoch, first packet) and its
    /// unicast stream to that member (epoch, first packet).</summary>
    StreamStart = 10,

    /// <summary>A member tells the coordinator which view it has installed (the id in <c>sequence</c>).</summary>
    ViewAck = 11,

    /// <summary>A member asks the coordinator to remove a member that holds its broadcast window.</summary>
    Suspect = 12,

    /// <summary>A receiver saw a stream of the sender's whose start it does not know: it asks for a StreamStart.</summary>
    StartRequest = 13,
}
