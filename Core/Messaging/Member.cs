namespace Multicast.Messaging;

/// <summary>One member of a group: a node in one incarnation (a restarted node is a new member).</summary>
/// <param name="NodeId">The node's configured id; stable across restarts.</param>
/// <param name="Incarnation">Distinguishes restarts of the same node; larger is newer.</param>
/// <param name="Address">The transport address for unicast (<see cref="Transport.ITransport.LocalAddress"/>).</param>
/// <param name="PublicAddress">The node's public (HTTP) address, for redirects; may be empty.</param>
public sealed record Member(string NodeId, long Incarnation, string Address, string PublicAddress)
{
    /// <summary>The node's place on the ring (0–65535), unique within a view. It is <see cref="RingIndexOf"/>
    /// of <see cref="NodeId"/> unless another member of the view holds that index: then the coordinator assigns
    /// the next free one (the member that was in the view first keeps its index; a member that rejoins asks for
    /// the index it had). Session ids carry their owner's ring index as a prefix.</summary>
    /// <value>The default value is <see cref="RingIndexOf"/>(<see cref="NodeId"/>); the members of a
    /// <see cref="MembershipView"/> carry the index the coordinator assigned.</value>
    public int RingIndex { get; init; } = RingIndexOf(NodeId);

    /// <summary>The ring index of a node id (FNV-1a folded to 16 bits).</summary>
    public static int RingIndexOf(string nodeId)
    {
        ArgumentNullException.ThrowIfNull(nodeId);
        uint hash = 2166136261;
        foreach (var c in nodeId)
        {
            hash = (hash ^ c) * 16777619;
        }
        return (int)((hash >> 16) ^ (hash & 0xFFFF));
    }

    /// <inheritdoc />
    public override string ToString() => $"{NodeId}#{Incarnation}";
}
