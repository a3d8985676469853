namespace Multicast.Messaging.Internal;

/// <summary>
/// A data packet kept until every addressee acknowledged it: header and plaintext payload (the counter and
/// the seal are applied at each transmission, so a repair never reuses a nonce or trips a replay window).
/// Never mutated after it is closed, so it can be transmitted outside the channel lock.
/// </summary>
internal sealed class OutPacket(byte[] buffer, long sequence, long firstMessage)
{
    public byte[] Buffer { get; } = buffer;
    public int Length { get; set; } = PacketHeader.Size;
    public long Sequence { get; } = sequence;
    public long FirstMessage { get; } = firstMessage;
    public long LastMessage { get; set; } = firstMessage;
    public bool Closed { get; set; }
    public bool Transmitted { get; set; }
    public long LastUnicastRepair { get; set; }
    public long LastMulticastRepair { get; set; }
    public MemberKey LastRepairTo { get; set; }

    public ReadOnlySpan<byte> Span => Buffer.AsSpan(0, Length);
}
