namespace Multicast.Messaging.Internal;

/// <summary>Identifies a member on the wire: the hash of its node id and its incarnation.</summary>
internal readonly record struct MemberKey(uint Hash, long Incarnation)
{
    public static MemberKey Of(Member member) => new(Fnv.Hash32(member.NodeId), member.Incarnation);
}
