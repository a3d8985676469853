using Multicast.Messaging;

using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>The replicated store's placement: every member holds every session.</summary>
internal sealed class EveryNodePlacement : SessionPlacement
{
    public static readonly EveryNodePlacement Instance = new();

    public override bool EveryNode => true;

    public override bool MustHold(string id, MembershipView view, string node) => true;

    public override IEnumerable<Member> Backups(string id, MembershipView view)
    {
        var arbiter = ArbiterFor(id, view);
        return view.Members.Where(m => m != arbiter);
    }
}
