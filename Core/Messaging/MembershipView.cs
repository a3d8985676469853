namespace Multicast.Messaging;

/// <summary>A numbered membership view: who is in the group, oldest first (the oldest coordinates).</summary>
public sealed class MembershipView
{
    /// <summary>Creates a view.</summary>
    public MembershipView(long id, IReadOnlyList<Member> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        Id = id;
        Members = members;
    }

    /// <summary>The view number; each new view has a larger one.</summary>
    public long Id { get; }

    /// <summary>The members, oldest first.</summary>
    public IReadOnlyList<Member> Members { get; }

    /// <summary>The oldest member, which coordinates view changes.</summary>
    public Member Coordinator => Members[0];

    /// <summary>The member with this node id, or <see langword="null"/>.</summary>
    public Member? Find(string nodeId)
    {
        // Indexed: an interface enumerator would allocate on every request that asks whether this node holds a session.
        var members = Members;
        for (var i = 0; i < members.Count; i++)
        {
            if (members[i].NodeId == nodeId)
                return members[i];
        }
        return null;
    }

    /// <summary>Whether a node with this id is in the view.</summary>
    public bool Contains(string nodeId) => Find(nodeId) is not null;

    /// <summary>The members in ring order (by ring index, then node id).</summary>
    public IReadOnlyList<Member> RingOrder => Ring;

    // The array itself for the walks below: every request routes through them, and an interface call per element costs.
    private Member[] Ring => _ring ??= Members.OrderBy(m => m.RingIndex).ThenBy(m => m.NodeId, StringComparer.Ordinal).ToArray();

    private Member[]? _ring;

    private IReadOnlySet<string>? _catchingUp;

    /// <summary>
    /// The member acting for ring index <paramref name="ringIndex"/>: the member with that index if it is
    /// in the view, else the next live member in ring order (wrapping). In a store's view, members still catching up
    /// act for no index: the next member in ring order acts for theirs.
    /// </summary>
    public Member? ActingOwner(int ringIndex)
    {
        return ActingOwnerSkipping(ringIndex, _catchingUp);
    }

    private Member? ActingOwnerSkipping(int ringIndex, IReadOnlySet<string>? catchingUp)
    {
        // Indexed, not foreach: an interface enumerator would allocate on every request's routing.
        var ring = Ring;
        if (ring.Length == 0)
            return null;
        Member? first = null;
        for (var i = 0; i < ring.Length; i++)
        {
            if (catchingUp is not null && catchingUp.Contains(ring[i].NodeId))
                continue;
            first ??= ring[i];
            if (ring[i].RingIndex >= ringIndex)
                return ring[i];
        }
        return first;
    }

    /// <summary>The same view in which <paramref name="nodes"/> act for no ring index (<see cref="ActingOwner"/>); ignored
    /// when that would be every member.</summary>
    internal MembershipView WithCatchingUp(IReadOnlySet<string> nodes)
    {
        if (nodes.Count == 0 || Members.All(m => nodes.Contains(m.NodeId)))
            return _catchingUp is null ? this : new MembershipView(Id, Members);
        return new MembershipView(Id, Members) { _catchingUp = nodes };
    }

    /// <summary>Whether the member acts for no ring index in this view (<see cref="WithCatchingUp"/>).</summary>
    internal bool IsCatchingUp(string nodeId) => _catchingUp?.Contains(nodeId) == true;

    /// <summary>Whether some member acts for no ring index in this view.</summary>
    internal bool HasCatchingUp => _catchingUp is not null;

    /// <summary>The member catching up that would act for <paramref name="ringIndex"/> once caught up, or null.</summary>
    internal Member? CatchingUpOwner(int ringIndex) =>
        _catchingUp is null ? null : ActingOwnerSkipping(ringIndex, null) is { } owner && _catchingUp.Contains(owner.NodeId) ? owner : null;

    /// <summary>The <paramref name="count"/> members after <paramref name="member"/> in ring order.</summary>
    public IEnumerable<Member> Successors(Member member, int count)
    {
        ArgumentNullException.ThrowIfNull(member);
        var ring = Ring;
        var at = RingPositionOf(member.NodeId);
        if (at < 0)
            yield break;
        for (var k = 1; k <= count && k < ring.Length; k++)
            yield return ring[(at + k) % ring.Length];
    }

    /// <summary>Whether <paramref name="nodeId"/> is one of <see cref="Successors"/>(<paramref name="member"/>,
    /// <paramref name="count"/>), without an iterator: the ring store asks it on every read.</summary>
    internal bool IsSuccessor(Member member, int count, string nodeId)
    {
        var ring = Ring;
        var at = RingPositionOf(member.NodeId);
        for (var k = 1; at >= 0 && k <= count && k < ring.Length; k++)
        {
            if (ring[(at + k) % ring.Length].NodeId == nodeId)
                return true;
        }
        return false;
    }

    /// <summary>The member's position in <see cref="RingOrder"/>, or -1.</summary>
    private int RingPositionOf(string nodeId)
    {
        var ring = Ring;
        for (var i = 0; i < ring.Length; i++)
        {
            if (ring[i].NodeId == nodeId)
                return i;
        }
        return -1;
    }

    /// <inheritdoc />
    public override string ToString() => $"view {Id} [{string.Join(", ", Members)}]";
}
