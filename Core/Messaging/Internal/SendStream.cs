namespace Multicast.Messaging.Internal;

/// <summary>One stream this node sends: its broadcast stream, or its unicast stream to one peer.</summary>
internal sealed class SendStream(PeerState? target, long epoch)
{
    /// <summary>The addressee of a unicast stream; null for the broadcast stream.</summary>
    public PeerState? Target { get; } = target;

    /// <summary>Which incarnation of the stream this is (on every packet, echoed by acks and NAKs). The broadcast stream
    /// gets a new epoch whenever this node leaves its group to rejoin or merge; a unicast stream has the epoch its
    /// addressee's state was created with. Epochs only grow within an incarnation.</summary>
    public long Epoch { get; set; } = epoch;

    public bool IsBroadcast => Target is null;

    public long NextPacket { get; set; } = 1;

    /// <summary>Message sequences are assigned when a send is called, before the message has room in the window.</summary>
    public long NextMessage { get; set; } = 1;

    public long LastPacketizedMessage { get; set; }

    public long HighestTransmitted { get; set; }

    public PacketRing Unacked { get; } = new();

    /// <summary>Bytes of <see cref="Unacked"/> (payloads and headers) held against this stream's send window.</summary>
    public long WindowUsed { get; set; }

    /// <summary>Messages that have their sequence number and wait for room in this stream's window, in call order.</summary>
    public LinkedList<PendingSend> Pending { get; } = new();

    /// <summary>Since when messages have been waiting for room (0: none are).</summary>
    public long BlockedSince { get; set; }

    /// <summary>The last packet while it is still queued: small messages sent meanwhile join it (batching).</summary>
    public OutPacket? OpenBatch { get; set; }

    /// <summary>Unicast streams: what the target acknowledged.</summary>
    public long AckedPacket { get; set; }

    public long TailDue { get; set; }

    public long TailBackoff { get; set; }
}
