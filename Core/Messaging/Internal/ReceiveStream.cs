using System.Buffers;

namespace Multicast.Messaging.Internal;

/// <summary>One stream this node receives: a peer's broadcast stream or its unicast stream to this node.</summary>
internal sealed class ReceiveStream(PeerState sender, bool unicast)
{
    public PeerState Sender { get; } = sender;

    public bool Unicast { get; } = unicast;

    /// <summary>The epoch of the sender's stream this follows (0: none yet). Packets of an older epoch are the sender's
    /// previous stream (it or this node rejoined meanwhile) and are never delivered; a newer one restarts this stream.</summary>
    public long Epoch { get; private set; }

    /// <summary>A stream starts where its sender says (a StreamStart for <see cref="Epoch"/>); until then what arrives is held.</summary>
    public bool StartKnown { get; set; }

    /// <summary>When this node last asked the sender where this stream starts (0: never).</summary>
    public long StartRequestedAt { get; set; }

    /// <summary>How long after <see cref="StartRequestedAt"/> the request is repeated (doubling).</summary>
    public long StartRequestBackoff { get; set; }

    /// <summary>The next packet sequence to process; everything before it was processed.</summary>
    public long Next { get; set; } = 1;

    public long Highest { get; set; }

    /// <summary>The last message handed out for delivery (the handler may not have run yet).</summary>
    public long ProcessedMessage { get; set; }

    // What acks report: only what the handler has been given and returned from, so an ack means delivered.
    public long AckPacket { get; set; }

    public long AckMessage { get; set; }

    /// <summary>Whether the receive thread touched this stream in the current datagram.</summary>
    public bool Touched { get; set; }

    /// <summary>Packets after a gap (or before the start is known), copied into pooled buffers.</summary>
    public SortedDictionary<long, BufferedPacket> Buffered { get; } = [];

    /// <summary>What was NAKed when: each missing packet is asked for once, and again only after a retry timeout without repair.</summary>
    public NakSchedule Naks { get; } = new();

    /// <summary>The missing ranges from <paramref name="from"/> (at least <see cref="Next"/>) to <see cref="Highest"/>.</summary>
    public MissingRanges Missing(long from) => new(Buffered, Math.Max(from, Next), Highest);

    public long LastAckSent { get; set; }

    public long AckedSentPacket { get; set; }

    public long AckDue { get; set; }

    // A fragmented message being reassembled (fragments arrive in packet order).
    public byte[]? Reassembly { get; set; }

    public int ReassemblyLength { get; set; }

    public int ReassemblyFilled { get; set; }

    public long ReassemblyMessage { get; set; }

    public uint ReassemblyNextFragment { get; set; }

    public bool HasGap => StartKnown && Next <= Highest;

    /// <summary>Follows a newer epoch of the sender's stream: everything of the previous one is dropped, and the new one
    /// starts where its sender says.</summary>
    public void Restart(long epoch)
    {
        Release();
        Epoch = epoch;
        StartKnown = false;
        StartRequestedAt = 0;
        StartRequestBackoff = 0;
        Next = 1;
        Highest = 0;
        ProcessedMessage = 0;
        AckPacket = 0;
        AckMessage = 0;
        AckedSentPacket = 0;
        AckDue = 0;
    }

    public void Release()
    {
        Naks.Reset();
        foreach (var packet in Buffered.Values)
            ArrayPool<byte>.Shared.Return(packet.Buffer);
        Buffered.Clear();
        if (Reassembly is not null)
        {
            ArrayPool<byte>.Shared.Return(Reassembly);
            Reassembly = null;
        }
    }
}

/// <summary>A received data packet held until the packets before it arrive.</summary>
internal readonly record struct BufferedPacket(byte[] Buffer, int Length, long MessageSequence, uint FragmentIndex, uint FragmentCount);
