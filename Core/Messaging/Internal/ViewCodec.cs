namespace Multicast.Messaging.Internal;

/// <summary>
/// The payloads of View and Join (layouts in docs/wire-format.md), and the bounds every view id must stay within.
/// </summary>
internal static class ViewCodec
{
    /// <summary>No view id is larger: a claim above it is hostile (view ids grow by one per view change).</summary>
    public const long MaxViewId = 1L << 62;

    /// <summary>How far a view id claimed by a member may lie above what the receiver knows. Two groups that merge
    /// differ by the number of views they installed; a claim beyond this is hostile, so repeated forged claims cannot
    /// walk ids up to <see cref="MaxViewId"/> quickly.</summary>
    public const long MaxViewIdJump = 1L << 32;

    private const int MinMemberBytes = 2 + 8 + 2 + 2 + 2;

    /// <summary>Whether <paramref name="id"/> is a believable view id for a receiver that knows <paramref name="known"/>.</summary>
    public static bool IsPlausible(long id, long known) => id > 0 && id <= MaxViewId && id - known <= MaxViewIdJump;

    /// <summary><c>i64 id, u16 n, n × (str nodeId, i64 incarnation, str address, str publicAddress, u16 ringIndex)</c>.</summary>
    public static byte[] EncodeView(MembershipView view)
    {
        var size = 8 + 2;
        foreach (var m in view.Members)
            size += PayloadWriter.SizeOf(m.NodeId) + 8 + PayloadWriter.SizeOf(m.Address) + PayloadWriter.SizeOf(m.PublicAddress) + 2;
        var bytes = new byte[size];
        var writer = new PayloadWriter(bytes);
        writer.WriteInt64(view.Id);
        writer.WriteUInt16(checked((ushort)view.Members.Count));
        foreach (var m in view.Members)
        {
            writer.WriteString(m.NodeId);
            writer.WriteInt64(m.Incarnation);
            writer.WriteString(m.Address);
            writer.WriteString(m.PublicAddress);
            writer.WriteUInt16((ushort)m.RingIndex);
        }
        return bytes;
    }

    public static bool TryDecodeView(ReadOnlySpan<byte> payload, out long id, out Member[] members)
    {
        members = [];
        var reader = new PayloadReader(payload);
        if (!reader.TryReadInt64(out id) || !reader.TryReadUInt16(out var count) || count == 0 || count > payload.Length / MinMemberBytes)
            return false;
        var decoded = new Member[count];
        for (var i = 0; i < count; i++)
        {
            if (!reader.TryReadString(out var nodeId) || !reader.TryReadInt64(out var incarnation) || !reader.TryReadString(out var address)
                || !reader.TryReadString(out var publicAddress) || !reader.TryReadUInt16(out var ring) || nodeId.Length == 0)
            {
                return false;
            }
            decoded[i] = new Member(nodeId, incarnation, address, publicAddress) { RingIndex = ring };
        }
        members = decoded;
        return true;
    }

    /// <summary><c>str nodeId, str address, str publicAddress, i64 lastViewId, i32 preferredRingIndex (-1: none)</c>.</summary>
    public static byte[] EncodeJoin(Member local, long lastViewId, int preferredRing)
    {
        var bytes = new byte[PayloadWriter.SizeOf(local.NodeId) + PayloadWriter.SizeOf(local.Address) + PayloadWriter.SizeOf(local.PublicAddress) + 8 + 4];
        var writer = new PayloadWriter(bytes);
        writer.WriteString(local.NodeId);
        writer.WriteString(local.Address);
        writer.WriteString(local.PublicAddress);
        writer.WriteInt64(lastViewId);
        writer.WriteUInt32(unchecked((uint)preferredRing));
        return bytes;
    }

    public static bool TryDecodeJoin(ReadOnlySpan<byte> payload, long incarnation, out Member joiner, out long lastViewId)
    {
        joiner = null!;
        lastViewId = 0;
        var reader = new PayloadReader(payload);
        if (!reader.TryReadString(out var nodeId) || !reader.TryReadString(out var address) || !reader.TryReadString(out var publicAddress)
            || !reader.TryReadInt64(out lastViewId) || !reader.TryReadUInt32(out var ring) || nodeId.Length == 0 || lastViewId < 0)
        {
            return false;
        }
        var preferred = unchecked((int)ring);
        if (preferred is < -1 or > ushort.MaxValue)
            return false;
        joiner = new Member(nodeId, incarnation, address, publicAddress);
        if (preferred >= 0)
            joiner = joiner with { RingIndex = preferred };
        return true;
    }
}
