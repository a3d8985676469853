namespace Multicast.Messaging.Internal;

/// <summary>
/// A data packet kept until every addressee acknowledged it: header and plaintext payload (the counter and
/// the seal are applied at each transmission, so a repair never reuses a nonce or trips a replay window).
/// Never mutated after it is closed, so it can be transmitted outside the channel lock. Reused once freed
/// (<see cref="Reset"/>): its buffer always has room for a whole packet.
/// </summary>
internal sealed class OutPacket(byte[] buffer)
{
    public byte[] Buffer { get; } = buffer;
    public int Length { get; set; } = PacketHeader.Size;
    public long Sequence { get; private set; }
    public long FirstMessage { get; private set; }
    public long LastMessage { get; set; }
    public bool Closed { get; set; }
    public bool Transmitted { get; set; }

    /// <summary>Whether a flush is sending it outside the channel lock right now (it must not be reused meanwhile).</summary>
    public bool InFlight { get; set; }

    public long LastUnicastRepair { get; set; }
    public long LastMulticastRepair { get; set; }
    public MemberKey LastRepairTo { get; set; }

    public ReadOnlySpan<byte> Span => Buffer.AsSpan(0, Length);

    /// <summary>Makes it packet <paramref name="sequence"/> starting with message <paramref name="firstMessage"/>, empty.</summary>
    public OutPacket Reset(long sequence, long firstMessage)
    {
        Length = PacketHeader.Size;
        Sequence = sequence;
        FirstMessage = firstMessage;
        LastMessage = firstMessage;
        Closed = false;
        Transmitted = false;
        InFlight = false;
        LastUnicastRepair = 0;
        LastMulticastRepair = 0;
        LastRepairTo = default;
        return this;
    }
}
