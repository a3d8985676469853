using Multicast.Messaging;
using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>Which members hold a session: every member (replicated) or its acting owner and backups (ring).</summary>
internal abstract class SessionPlacement
{
    /// <summary>Every member holds every session: commits are broadcast and a joiner takes a whole snapshot.</summary>
    public abstract bool EveryNode { get; }

    /// <summary>Whether <paramref name="node"/> must hold session <paramref name="id"/> in <paramref name="view"/>.</summary>
    public abstract bool MustHold(string id, MembershipView view, string node);

    /// <summary>The members besides the acting owner that must hold the session, in ring order.</summary>
    public abstract IEnumerable<Member> Backups(string id, MembershipView view);

    /// <summary>The member that arbitrates the session: its owner, or the next live member in ring order.</summary>
    public static Member? ArbiterFor(string id, MembershipView view)
    {
        SessionIds.TryParseOwner(id, out var ring);
        return view.ActingOwner(ring);
    }
}
