namespace Multicast.Nemesis.Checking;

/// <summary>What a violation breaks.</summary>
internal enum ViolationKind
{
    /// <summary>An acknowledged update is missing: a final value below the acknowledged increments, two acknowledged
    /// increments that returned the same value, a read below a value acknowledged before it started.</summary>
    LostUpdate,

    /// <summary>More was applied than was sent: a value no increment could have produced.</summary>
    PhantomUpdate,

    /// <summary>A step answered "not applied" (a typed refusal) was applied after all.</summary>
    RefusedButApplied,

    /// <summary>Fencing: committed tokens not increasing with versions, or a commit under a token older than a lock
    /// granted before the commit started (two holders committed under overlapping leases).</summary>
    Fencing,

    /// <summary>After healing, nodes that hold a session disagree, or a node the placement requires lacks it.</summary>
    Divergence,

    /// <summary>A session that was created (acknowledged) and never removed is gone: not found by a later request, or
    /// held by no node after healing.</summary>
    LostSession,

    /// <summary>A session whose removal was acknowledged came back.</summary>
    Resurrection,

    /// <summary>A live node answered with an exception that is not one of the typed refusals (an HTTP host answers 500):
    /// the contract says the only ambiguous outcome is the death of the answering node.</summary>
    UntypedFailure,

    /// <summary>No answer within the client's timeout.</summary>
    Hung,

    /// <summary>After healing the cluster did not become ready in one view, or a session did not accept a write.</summary>
    NotLive,
}
