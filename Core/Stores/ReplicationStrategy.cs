using Multicast.Messaging;
using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>
/// Where a session's copies live and how its arbiter's commits reach them: the one thing in which the replicated and
/// the ring store differ. The arbiter is always the session's acting owner (its id's ring index, or the next live
/// member in ring order).
/// </summary>
internal abstract class ReplicationStrategy
{
    /// <summary>Every member holds every session (commits are broadcast).</summary>
    public abstract bool EveryMember { get; }

    /// <summary>The members other than the arbiter that hold the session in <paramref name="view"/>, in ring order.</summary>
    public abstract IReadOnlyList<Member> Replicas(string id, MembershipView view);

    /// <summary>Whether <paramref name="node"/> holds the session in <paramref name="view"/>.</summary>
    public abstract bool Holds(string id, MembershipView view, string node);

    /// <summary>Sends a replication message to the session's replicas.</summary>
    public abstract void Send(IGroupChannel channel, IReadOnlyList<Member> replicas, byte[] payload, Action<ValueTask, string> observe);

    /// <summary>
    /// The write concern, stated once: how many acknowledgements a commit waits for. <c>ReplicationAcks</c>, capped by
    /// the <paramref name="eligible"/> replicas that can give one (ready holders of the session in the current view);
    /// without a view (<see langword="null"/>), by the replicas a session has when no owner is catching up — what the
    /// primary decision may count on.
    /// </summary>
    public int RequiredAcks(ClusterStoreOptions options, int? eligible = null) =>
        Math.Min(options.ReplicationAcks, eligible ?? StandingReplicas);

    /// <summary>The replicas besides the arbiter that hold a session in a view with no owner catching up (a catching-up
    /// owner is one more, until it is handed its sessions back).</summary>
    protected abstract int StandingReplicas { get; }

    /// <summary>The member that arbitrates the session in <paramref name="view"/>.</summary>
    public static Member? ArbiterOf(string id, MembershipView view) => view.ActingOwner(SessionIds.OwnerIndexOf(id));
}

/// <summary>The replicated store: every member holds every session; the arbiter broadcasts each commit once.</summary>
internal sealed class BroadcastReplication : ReplicationStrategy
{
    public static readonly BroadcastReplication Instance = new();

    public override bool EveryMember => true;

    /// <summary>Every other member: capped only by the view, through the eligible count.</summary>
    protected override int StandingReplicas => int.MaxValue;

    public override IReadOnlyList<Member> Replicas(string id, MembershipView view)
    {
        var arbiter = ArbiterOf(id, view);
        var replicas = new List<Member>(view.Members.Count);
        foreach (var m in view.RingOrder)
        {
            if (m != arbiter)
                replicas.Add(m);
        }
        return replicas;
    }

    public override bool Holds(string id, MembershipView view, string node) => view.Contains(node);

    public override void Send(IGroupChannel channel, IReadOnlyList<Member> replicas, byte[] payload, Action<ValueTask, string> observe)
    {
        if (replicas.Count == 0)
            return;
        ValueTask sent;
        try
        {
            sent = Discard(channel.BroadcastAsync(payload));
        }
        catch (InvalidOperationException ex)
        {
            sent = ValueTask.FromException(ex); // excluded a moment before the store heard of it
        }
        observe(sent, "the group");
    }

    private static async ValueTask Discard(ValueTask<long> sent) => await sent;
}

/// <summary>The ring store: the arbiter and the next <c>backups</c> live members in ring order hold a session; the
/// arbiter sends each commit to those backups by reliable unicast.</summary>
internal sealed class BackupReplication(int backups) : ReplicationStrategy
{
    public int Backups { get; } = backups;

    public override bool EveryMember => false;

    protected override int StandingReplicas => Backups;

    public override IReadOnlyList<Member> Replicas(string id, MembershipView view)
    {
        if (ArbiterOf(id, view) is not { } arbiter)
            return [];
        var replicas = view.Successors(arbiter, Backups).ToList();
        // An owner catching up holds its sessions already, so they are in place when they are handed back to it.
        if (view.CatchingUpOwner(SessionIds.OwnerIndexOf(id)) is { } owner && !replicas.Contains(owner))
            replicas.Add(owner);
        return replicas;
    }

    public override bool Holds(string id, MembershipView view, string node)
    {
        var arbiter = ArbiterOf(id, view);
        if (arbiter is null)
            return false;
        return arbiter.NodeId == node || view.IsSuccessor(arbiter, Backups, node)
            || (view.HasCatchingUp && view.CatchingUpOwner(SessionIds.OwnerIndexOf(id))?.NodeId == node);
    }

    public override void Send(IGroupChannel channel, IReadOnlyList<Member> replicas, byte[] payload, Action<ValueTask, string> observe)
    {
        foreach (var replica in replicas)
        {
            ValueTask sent;
            try
            {
                sent = channel.SendAsync(replica.NodeId, payload);
            }
            catch (InvalidOperationException ex)
            {
                // The channel installed a view without it before this node's store did: the coming view change
                // recounts the commit; until then it is a failed send like any other.
                sent = ValueTask.FromException(ex);
            }
            observe(sent, replica.NodeId);
        }
    }
}
