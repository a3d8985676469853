using ProtoBuf;

// Store-layer messages, carried as payloads of the reliable group channel (docs/wire-format.md). Code-first
// protobuf-net contracts; field numbers are the wire format: never reuse or renumber them.
namespace Multicast.Wire;

/// <summary>One store message: exactly one body is set. A receiver drops (and counts) versions it does not know.</summary>
[ProtoContract]
internal sealed class Envelope
{
    [ProtoMember(1)] public uint Version { get; set; }
    [ProtoMember(10)] public LockRequest? LockRequest { get; set; }
    [ProtoMember(11)] public LockReply? LockReply { get; set; }
    [ProtoMember(12)] public LockRelease? LockRelease { get; set; }
    [ProtoMember(13)] public LockCancel? LockCancel { get; set; }
    [ProtoMember(14)] public CommitRequest? CommitRequest { get; set; }
    [ProtoMember(15)] public CommitReply? CommitReply { get; set; }
    [ProtoMember(16)] public Replicate? Replicate { get; set; }
    [ProtoMember(17)] public ReplicateAck? ReplicateAck { get; set; }
    [ProtoMember(18)] public ReadRequest? ReadRequest { get; set; }
    [ProtoMember(19)] public ReadReply? ReadReply { get; set; }
    [ProtoMember(20)] public Touch? Touch { get; set; }
    [ProtoMember(21)] public PrimaryState? PrimaryState { get; set; }
    [ProtoMember(22)] public Digest? Digest { get; set; }
    [ProtoMember(23)] public FetchRequest? FetchRequest { get; set; }
    [ProtoMember(24)] public FetchReply? FetchReply { get; set; }
    [ProtoMember(25)] public ReconcileDone? ReconcileDone { get; set; }
    [ProtoMember(26)] public HoldRequest? HoldRequest { get; set; }
    [ProtoMember(27)] public HoldReply? HoldReply { get; set; }
    [ProtoMember(28)] public OutcomeRequest? OutcomeRequest { get; set; }
    [ProtoMember(29)] public OutcomeReply? OutcomeReply { get; set; }
    [ProtoMember(30)] public MemberReady? MemberReady { get; set; }
    [ProtoMember(31)] public LeaseCheck? LeaseCheck { get; set; }
    [ProtoMember(32)] public LeaseReply? LeaseReply { get; set; }
    [ProtoMember(33)] public DigestAsk? DigestAsk { get; set; }
    [ProtoMember(34)] public ReconcileAck? ReconcileAck { get; set; }
}

[ProtoContract]
internal sealed class Attribute
{
    [ProtoMember(1)] public string Key { get; set; } = string.Empty;
    [ProtoMember(2)] public byte[] Value { get; set; } = [];
}

/// <summary>A whole session (or its tombstone), as it is transferred, recovered and kept on disk.</summary>
[ProtoContract]
internal sealed class SessionCopy
{
    [ProtoMember(1)] public string Id { get; set; } = string.Empty;
    [ProtoMember(2)] public long Version { get; set; }
    /// <summary>The primary epoch in which this version was committed: orders copies whose versions tie.</summary>
    [ProtoMember(3)] public long Epoch { get; set; }
    [ProtoMember(4)] public long Token { get; set; }
    [ProtoMember(5)] public string Writer { get; set; } = string.Empty;
    [ProtoMember(6)] public long CreatedMs { get; set; }
    [ProtoMember(7)] public long LastAccessMs { get; set; }
    [ProtoMember(8)] public long IdleTimeoutMs { get; set; }
    [ProtoMember(9)] public List<Attribute> Attributes { get; set; } = [];
    /// <summary>A tombstone: the session was removed at this version.</summary>
    [ProtoMember(10)] public bool Removed { get; set; }
    /// <summary>The ids of the last commits, newest last: answers "was this commit applied?" after a failover.</summary>
    [ProtoMember(11)] public List<ulong> RecentCommits { get; set; } = [];
}

/// <summary>One commit: a delta from <see cref="BaseVersion"/> (or a new session), or a removal.</summary>
[ProtoContract]
internal sealed class SessionDelta
{
    [ProtoMember(1)] public string Id { get; set; } = string.Empty;
    [ProtoMember(2)] public long BaseVersion { get; set; }
    [ProtoMember(3)] public long Version { get; set; }
    [ProtoMember(4)] public long Epoch { get; set; }
    [ProtoMember(5)] public long Token { get; set; }
    [ProtoMember(6)] public string Writer { get; set; } = string.Empty;
    /// <summary>Unique per commit attempt (the holder chooses it), so a retried or failed-over commit is recognised.</summary>
    [ProtoMember(7)] public ulong CommitId { get; set; }
    [ProtoMember(8)] public List<Attribute> Set { get; set; } = [];
    [ProtoMember(9)] public List<string> RemovedKeys { get; set; } = [];
    [ProtoMember(10)] public long LastAccessMs { get; set; }
    /// <summary>0: unchanged.</summary>
    [ProtoMember(11)] public long IdleTimeoutMs { get; set; }
    /// <summary>The session is created by this commit (no base).</summary>
    [ProtoMember(12)] public bool IsNew { get; set; }
    [ProtoMember(13)] public long CreatedMs { get; set; }
    [ProtoMember(14)] public bool Removal { get; set; }
    [ProtoMember(15)] public RemovalReason RemovalReason { get; set; }
}

internal enum RemovalReason
{
    Invalidated = 0,
    Expired = 1,
}

internal enum ConflictPolicy
{
    Wait = 0,
    Fail = 1,
    Redirect = 2,
}

[ProtoContract]
internal sealed class LockRequest
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public string SessionId { get; set; } = string.Empty;
    [ProtoMember(3)] public ConflictPolicy Policy { get; set; }
    /// <summary>The requester's version (0: none); a grant carries the whole session when it is behind.</summary>
    [ProtoMember(4)] public long KnownVersion { get; set; }
    [ProtoMember(5)] public long KnownEpoch { get; set; }
}

internal enum LockStatus
{
    Granted = 0,
    Held = 1,
    NotFound = 2,
    /// <summary>The receiver does not arbitrate the session (anymore): ask the acting owner of the current view.</summary>
    NotArbiter = 3,
    /// <summary>The arbiter is in a minority partition or not caught up.</summary>
    Unavailable = 4,
}

[ProtoContract]
internal sealed class LockReply
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public string SessionId { get; set; } = string.Empty;
    [ProtoMember(3)] public LockStatus Status { get; set; }
    [ProtoMember(4)] public long Token { get; set; }
    [ProtoMember(5)] public long ExpiresMs { get; set; }
    [ProtoMember(6)] public string Holder { get; set; } = string.Empty;
    [ProtoMember(7)] public long Version { get; set; }
    /// <summary>The whole session, when the requester was behind.</summary>
    [ProtoMember(8)] public SessionCopy? Copy { get; set; }
}

[ProtoContract]
internal sealed class LockRelease
{
    [ProtoMember(1)] public string SessionId { get; set; } = string.Empty;
    [ProtoMember(2)] public long Token { get; set; }
}

[ProtoContract]
internal sealed class LockCancel
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public string SessionId { get; set; } = string.Empty;
}

[ProtoContract]
internal sealed class CommitRequest
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2, IsRequired = true)] public SessionDelta Delta { get; set; } = new();
    [ProtoMember(3)] public bool Release { get; set; }
}

internal enum CommitStatus
{
    Applied = 0,
    /// <summary>The token is no longer current (the lease ended and another holder took the lock).</summary>
    StaleToken = 1,
    TooLarge = 2,
    NotArbiter = 3,
    /// <summary>No quorum, not caught up, or leaving: nothing applied.</summary>
    Unavailable = 4,
    /// <summary>The session was removed before the commit.</summary>
    NotFound = 5,
}

[ProtoContract]
internal sealed class CommitReply
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public string SessionId { get; set; } = string.Empty;
    [ProtoMember(3)] public CommitStatus Status { get; set; }
    /// <summary>The version the arbiter assigned (Applied).</summary>
    [ProtoMember(4)] public long Version { get; set; }
    [ProtoMember(5)] public long Epoch { get; set; }
    /// <summary>The current token (StaleToken) or the size the session would have had (TooLarge).</summary>
    [ProtoMember(6)] public long Detail { get; set; }
}

/// <summary>Arbiter to the session's other holders: commits in the session's order, or whole copies (reconciliation).</summary>
[ProtoContract]
internal sealed class Replicate
{
    /// <summary>The arbiter's id for this message, echoed by the acknowledgement.</summary>
    [ProtoMember(1)] public ulong ReplicationId { get; set; }
    /// <summary>The primary epoch the arbiter sequences in: a holder of a later epoch refuses it.</summary>
    [ProtoMember(2)] public long Epoch { get; set; }
    [ProtoMember(3)] public List<SessionDelta> Deltas { get; set; } = [];
    /// <summary>Whole copies that replace what the holder has, whatever its version (the arbiter's reconciled state).</summary>
    [ProtoMember(4)] public List<SessionCopy> Copies { get; set; } = [];
    /// <summary>Whether the arbiter waits for an acknowledgement.</summary>
    [ProtoMember(5)] public bool AckRequested { get; set; }
}

internal enum ReplicateStatus
{
    Applied = 0,
    /// <summary>The holder is in a later epoch: it did not apply anything.</summary>
    StaleEpoch = 1,
}

[ProtoContract]
internal sealed class ReplicateAck
{
    [ProtoMember(1)] public ulong ReplicationId { get; set; }
    [ProtoMember(2)] public long Epoch { get; set; }
    [ProtoMember(3)] public ReplicateStatus Status { get; set; }
}

[ProtoContract]
internal sealed class ReadRequest
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public string SessionId { get; set; } = string.Empty;
    [ProtoMember(3)] public long KnownVersion { get; set; }
    [ProtoMember(4)] public long KnownEpoch { get; set; }
    /// <summary>A holder missing a delta's base asks the arbiter for its committed copy (no quorum check: the arbiter
    /// that sent the delta answers from its table).</summary>
    [ProtoMember(5)] public bool ForHolder { get; set; }
}

internal enum ReadStatus
{
    Found = 0,
    /// <summary>The requester's version is the latest.</summary>
    Unchanged = 1,
    NotFound = 2,
    NotArbiter = 3,
    Unavailable = 4,
}

[ProtoContract]
internal sealed class ReadReply
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public ReadStatus Status { get; set; }
    [ProtoMember(3)] public SessionCopy? Copy { get; set; }
}

[ProtoContract]
internal sealed class TouchEntry
{
    [ProtoMember(1)] public string SessionId { get; set; } = string.Empty;
    [ProtoMember(2)] public long LastAccessMs { get; set; }
}

/// <summary>Batched last-access times, announced once per access window.</summary>
[ProtoContract]
internal sealed class Touch
{
    [ProtoMember(1)] public List<TouchEntry> Entries { get; set; } = [];
}

/// <summary>
/// Sent to the group after each view change: the last primary this member took part in, so every member of the view
/// decides, from the same facts, whether the view is primary and which epoch it starts.
/// </summary>
[ProtoContract]
internal sealed class PrimaryState
{
    [ProtoMember(1)] public long ViewId { get; set; }
    /// <summary>Identifies the view's member set (ids and incarnations), so states from another view of the same id are not mixed.</summary>
    [ProtoMember(2)] public ulong ViewHash { get; set; }
    /// <summary>The epoch of the last primary this member installed (0: none).</summary>
    [ProtoMember(3)] public long LastEpoch { get; set; }
    [ProtoMember(4)] public List<string> LastMembers { get; set; } = [];
    /// <summary>Members of that primary known to have left gracefully since (they no longer count for the majority).</summary>
    [ProtoMember(5)] public List<string> Leavers { get; set; } = [];
    /// <summary>This member is leaving gracefully.</summary>
    [ProtoMember(6)] public bool Leaving { get; set; }
    /// <summary>The ring index each of <see cref="LastMembers"/> had in that primary (who arbitrated what).</summary>
    [ProtoMember(7)] public List<int> LastRings { get; set; } = [];
    /// <summary>The sender still lacks states for this view: every member sends its own again.</summary>
    [ProtoMember(8)] public bool Ask { get; set; }
    /// <summary>The sender was excluded since it last caught up: it may lack updates of its last primary.</summary>
    [ProtoMember(9)] public bool Behind { get; set; }
    /// <summary>The members of that primary that were catching up in it, so arbitrated nothing (their sessions stayed with
    /// the next member in ring order).</summary>
    [ProtoMember(10)] public List<string> LastPassive { get; set; } = [];
    /// <summary>The sender comes straight from the view of that primary: it decided it, took part in it (caught up), and
    /// installed no view in between. The members' states for a view that only adds members to such a primary decide it
    /// without the joiners' (<see cref="Multicast.Stores.PrimaryTracker"/>).</summary>
    [ProtoMember(11)] public bool Current { get; set; }
    /// <summary>The decision round in this view: 0 when it was installed; one more each time the members caught up
    /// hand their sessions back (<c>StoreNode.BeginHandOffLocked</c>).</summary>
    [ProtoMember(12)] public int Round { get; set; }
    /// <summary>How many other holders a commit waits for on the sender (<c>Cluster:ReplicationAcks</c>, capped by the
    /// ring's backups): how many members of a primary hold each acknowledged update, for the majority rule (N16).</summary>
    [ProtoMember(13)] public int WriteConcern { get; set; }
    /// <summary>The sender arbitrated in that primary but had not recovered the sessions it took over when the next view
    /// came: its copies of them are not the primary's, so the next primary recovers them again (N17).</summary>
    [ProtoMember(14)] public bool Unrecovered { get; set; }

    /// <summary>The same state, asking every member to send its own again.</summary>
    public PrimaryState Asking()
    {
        var copy = (PrimaryState)MemberwiseClone();
        copy.Ask = true;
        return copy;
    }
}

[ProtoContract]
internal sealed class DigestEntry
{
    [ProtoMember(1)] public string SessionId { get; set; } = string.Empty;
    [ProtoMember(2)] public long Version { get; set; }
    [ProtoMember(3)] public long Epoch { get; set; }
    [ProtoMember(4)] public bool Removed { get; set; }
}

[ProtoContract]
internal sealed class LockEntry
{
    [ProtoMember(1)] public string SessionId { get; set; } = string.Empty;
    [ProtoMember(2)] public string Holder { get; set; } = string.Empty;
    [ProtoMember(3)] public long Token { get; set; }
    [ProtoMember(4)] public long ExpiresMs { get; set; }
    [ProtoMember(5)] public long LastToken { get; set; }
}

/// <summary>
/// Reconciliation, member to arbiter, after a new primary epoch: what this member holds of the sessions whose arbiter
/// must recover them (and, from the previous arbiter, their locks). Sent in numbered chunks; the last one says so, and
/// an arbiter that misses some asks for them (<see cref="DigestAsk"/>).
/// </summary>
[ProtoContract]
internal sealed class Digest
{
    [ProtoMember(1)] public long Epoch { get; set; }
    [ProtoMember(2)] public List<DigestEntry> Entries { get; set; } = [];
    [ProtoMember(3)] public List<LockEntry> Locks { get; set; } = [];
    [ProtoMember(4)] public bool Last { get; set; }
    /// <summary>The chunk's number, from 0 (a sender that numbers none sends a single chunk 0 as far as the arbiter can tell).</summary>
    [ProtoMember(5)] public int Index { get; set; }
}

/// <summary>Arbiter to member: the digest chunks of this epoch it has; the member sends the others again.</summary>
[ProtoContract]
internal sealed class DigestAsk
{
    [ProtoMember(1)] public long Epoch { get; set; }
    [ProtoMember(2)] public List<int> Have { get; set; } = [];
}

[ProtoContract]
internal sealed class FetchRequest
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public List<string> SessionIds { get; set; } = [];
}

[ProtoContract]
internal sealed class FetchReply
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public List<SessionCopy> Copies { get; set; } = [];
    /// <summary>How many of the asked ids, from the first, this reply answers (a reply is bounded by the state-transfer
    /// chunk size, so a large request takes several); 0: every one.</summary>
    [ProtoMember(3)] public int Covered { get; set; }
}

/// <summary>Arbiter to member: everything the member must hold of what this arbiter arbitrates has been sent, for this
/// epoch. Answered by a <see cref="ReconcileAck"/> and sent again until it is.</summary>
[ProtoContract]
internal sealed class ReconcileDone
{
    [ProtoMember(1)] public long Epoch { get; set; }
    /// <summary>The id the answer carries (0: the sender expects no answer).</summary>
    [ProtoMember(2)] public ulong RequestId { get; set; }
}

/// <summary>A member announces that it holds what it must (caught up): from now on its acknowledgements count.
/// Answered by a <see cref="ReconcileAck"/> and sent again until it is.</summary>
[ProtoContract]
internal sealed class MemberReady
{
    [ProtoMember(1)] public long Epoch { get; set; }
    /// <summary>The id the answer carries (0: the sender expects no answer).</summary>
    [ProtoMember(2)] public ulong RequestId { get; set; }
}

/// <summary>The answer to a <see cref="ReconcileDone"/> or a <see cref="MemberReady"/>: the member has taken it.</summary>
[ProtoContract]
internal sealed class ReconcileAck
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
}

/// <summary>A member that stalled (a pause, a starved machine) asks whether the others still share its view and epoch
/// before it arbitrates or answers from its own copy again.</summary>
[ProtoContract]
internal sealed class LeaseCheck
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public long ViewId { get; set; }
    [ProtoMember(3)] public long Epoch { get; set; }
}

/// <summary>The answer to a <see cref="LeaseCheck"/>: the responder's view and decided epoch (0: undecided).</summary>
[ProtoContract]
internal sealed class LeaseReply
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public long ViewId { get; set; }
    [ProtoMember(3)] public long Epoch { get; set; }
}

[ProtoContract]
internal sealed class HoldEntry
{
    [ProtoMember(1)] public string SessionId { get; set; } = string.Empty;
    [ProtoMember(2)] public long Version { get; set; }
}

/// <summary>Ring: "you arbitrate these; do your holders have them?" The asker drops the copies the arbiter confirms.</summary>
[ProtoContract]
internal sealed class HoldRequest
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public List<HoldEntry> Entries { get; set; } = [];
}

[ProtoContract]
internal sealed class HoldReply
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public List<string> Droppable { get; set; } = [];
}

[ProtoContract]
internal sealed class OutcomeRequest
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public string SessionId { get; set; } = string.Empty;
    [ProtoMember(3)] public ulong CommitId { get; set; }
    [ProtoMember(4)] public long Version { get; set; }
}

internal enum CommitOutcome
{
    Applied = 0,
    NotApplied = 1,
    /// <summary>The arbiter cannot tell yet (recovering, no quorum): ask again.</summary>
    Unknown = 2,
}

[ProtoContract]
internal sealed class OutcomeReply
{
    [ProtoMember(1)] public ulong RequestId { get; set; }
    [ProtoMember(2)] public CommitOutcome Outcome { get; set; }
}
