namespace Multicast.Nemesis.History;

/// <summary>What the store answered to one step.</summary>
internal enum OpOutcome
{
    /// <summary>No answer yet.</summary>
    Pending,

    /// <summary>Done: the write is applied and held by the write concern; the read answered.</summary>
    Ok,

    /// <summary>The session was not found (null from the find).</summary>
    NotFound,

    /// <summary>A typed refusal that means "nothing was applied": <see cref="Sessions.ClusterUnavailableException"/>,
    /// <see cref="Sessions.SessionLockedException"/>, <see cref="Sessions.LockLostException"/>,
    /// <see cref="Sessions.SessionTooLargeException"/>.</summary>
    NotApplied,

    /// <summary>May or may not be applied: <see cref="Sessions.CommitInDoubtException"/> (the contract's one ambiguous
    /// answer), an untyped exception, no answer in time, the node died.</summary>
    Ambiguous,
}
