using Multicast.Sessions;

namespace Multicast.Tests.PublicStore;

/// <summary>How the server answered a lock request.</summary>
internal enum LockOutcome
{
    Granted,
    Held,
    NotFound,
}

/// <summary>A lock request's answer: the grant (with the state read under it), or the holder and a task that completes
/// when the lock is next freed (released, lease ended, session removed, holder gone).</summary>
internal sealed record LockReply(LockOutcome Outcome, SessionState? State, long Token, DateTimeOffset ExpiresAt, string Holder, string HolderAddress, Task? Freed);

/// <summary>How the server answered a commit or a removal.</summary>
internal enum WriteOutcome
{
    /// <summary>Applied; <see cref="WriteReply.State"/> is the new state (null for a removal).</summary>
    Applied,

    /// <summary>Refused: the token is not the latest granted (or the base version moved); nothing changed.</summary>
    StaleToken,

    /// <summary>Refused: the session does not exist or was removed; nothing changed.</summary>
    NotFound,

    /// <summary>Refused: the result would exceed the size limit; nothing changed, the lock is released.</summary>
    TooLarge,

    /// <summary>Not done, and nothing changed: an expiry the server does not agree with (accessed since, or locked).</summary>
    Declined,
}

/// <summary>A commit's or a removal's answer.</summary>
internal sealed record WriteReply(WriteOutcome Outcome, SessionState? State = null, long Detail = 0, WriteConcern? Concern = null);

/// <summary>A commit as it travels to the server: a copy of the request's changes (the request's own collections are
/// cleared once it commits).</summary>
internal sealed record CommitRequest(
    Guid CommitId,
    string Id,
    string Writer,
    long Token,
    bool Locked,
    bool IsNew,
    SessionState Base,
    IReadOnlyDictionary<string, byte[]> Set,
    IReadOnlyCollection<string> Removed,
    TimeSpan? IdleTimeout,
    int MaxSessionBytes,
    int ReplicationAcks);

/// <summary>What a node gets when it connects: its member entry, the view with it, and every live session.</summary>
internal sealed record ServerSnapshot(Multicast.Messaging.Member Self, Multicast.Messaging.MembershipView View, IReadOnlyList<SessionState> Sessions);
