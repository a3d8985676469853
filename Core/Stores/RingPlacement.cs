using Multicast.Messaging;

using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>The ring store's placement: the acting owner and the next <c>backups</c> live members in ring order.</summary>
internal sealed class RingPlacement(int backups) : SessionPlacement
{
    public int BackupCount { get; } = backups;

    public override bool EveryNode => false;

    public override bool MustHold(string id, MembershipView view, string node)
    {
        var arbiter = ArbiterFor(id, view);
        if (arbiter is null)
            return false;
        if (arbiter.NodeId == node)
            return true;
        foreach (var m in view.Successors(arbiter, BackupCount))
        {
            if (m.NodeId == node)
                return true;
        }
        return false;
    }

    public override IEnumerable<Member> Backups(string id, MembershipView view) =>
        ArbiterFor(id, view) is { } arbiter ? view.Successors(arbiter, BackupCount) : [];
}
