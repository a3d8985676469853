using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>How a node's store takes part in the cluster (configuration section <c>Cluster</c>).</summary>
public sealed class ClusterStoreOptions
{
    /// <summary>The default lock lease: 30 seconds.</summary>
    public static readonly TimeSpan DefaultLockLease = TimeSpan.FromSeconds(30);

    /// <summary>The default wait for a held lock: 10 seconds.</summary>
    public static readonly TimeSpan DefaultLockWaitTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The default write-concern timeout: 5 seconds.</summary>
    public static readonly TimeSpan DefaultCommitTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The default number of other members that must hold an update before a commit completes.</summary>
    public const int DefaultReplicationAcks = 1;

    /// <summary>The default state-transfer chunk: 256 KiB.</summary>
    public const int DefaultStateTransferChunkBytes = 256 * 1024;

    /// <summary>This node's id; stable across restarts (its ring index derives from it). Key <c>Cluster:NodeId</c>.</summary>
    /// <value>The default value is the machine name and process id.</value>
    public string NodeId { get; set; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>This node's public address (its HTTP URL), named in redirects. Key <c>Cluster:PublicAddress</c>.</summary>
    /// <value>The default value is empty.</value>
    public string PublicAddress { get; set; } = string.Empty;

    /// <summary>How many other members must hold an update before a commit completes (the write concern);
    /// capped by the number of other members. 0 is fire-and-forget. Key <c>Cluster:ReplicationAcks</c>.</summary>
    /// <value>The default value is 1.</value>
    public int ReplicationAcks { get; set; } = DefaultReplicationAcks;

    /// <summary>How long a commit waits for an acknowledgement from a member that stays in the view; after it, that member
    /// no longer counts for the commit (the channel removes a member that stops acknowledging). Also bounds a request to
    /// another node. Key <c>Cluster:CommitTimeout</c>.</summary>
    /// <value>The default value is 5 seconds.</value>
    public TimeSpan CommitTimeout { get; set; } = DefaultCommitTimeout;

    /// <summary>Whether exclusive requests lock. Key <c>Cluster:Locking</c>.</summary>
    /// <value>The default value is <see cref="LockingMode.Pessimistic"/>.</value>
    public LockingMode Locking { get; set; } = LockingMode.Pessimistic;

    /// <summary>What a read-only request on a node other than the session's owner sees. Key <c>Cluster:ReadConsistency</c>.</summary>
    /// <value>The default value is <see cref="ReadConsistency.Latest"/>.</value>
    public ReadConsistency ReadConsistency { get; set; } = ReadConsistency.Latest;

    /// <summary>What an exclusive find does when the lock is held. Key <c>Cluster:ConflictPolicy</c>.</summary>
    /// <value>The default value is <see cref="LockConflictPolicy.Wait"/>.</value>
    public LockConflictPolicy ConflictPolicy { get; set; } = LockConflictPolicy.Wait;

    /// <summary>How long a lock is granted for; a crashed holder cannot keep it longer. Key <c>Cluster:LockLease</c>.</summary>
    /// <value>The default value is 30 seconds.</value>
    public TimeSpan LockLease { get; set; } = DefaultLockLease;

    /// <summary>How long <see cref="LockConflictPolicy.Wait"/> waits. Key <c>Cluster:LockWaitTimeout</c>.</summary>
    /// <value>The default value is 10 seconds.</value>
    public TimeSpan LockWaitTimeout { get; set; } = DefaultLockWaitTimeout;

    /// <summary>The size of a state-transfer chunk, in bytes. Key <c>Cluster:StateTransferChunkBytes</c>.</summary>
    /// <value>The default value is 256 KiB.</value>
    public int StateTransferChunkBytes { get; set; } = DefaultStateTransferChunkBytes;

    /// <summary>
    /// How many members a view needs to be the primary partition, the only side that grants locks and takes commits.
    /// 0 (the default): a majority of the last primary view's members, not counting those that left gracefully, so a
    /// minority side of a partition refuses writes and a graceful restart of any node costs nothing. Set it to accept
    /// writes with fewer members: 1 lets a lone node of a two-node cluster go on when its peer dies, at the price of
    /// both halves accepting writes during a partition (the side that is not the primary's continuation loses its
    /// writes at the heal). Key <c>Cluster:Quorum</c>.
    /// </summary>
    /// <value>The default value is 0 (majority of the last primary view).</value>
    public int Quorum { get; set; }

    /// <summary>Ring store: how many next live nodes hold a copy besides the owner. Key <c>Cluster:Backups</c>.</summary>
    /// <value>The default value is 1.</value>
    public int Backups { get; set; } = 1;

    /// <summary>Ring store: a directory for this node's disk copy; empty for none. Key <c>Cluster:DataDirectory</c>.</summary>
    /// <value>The default value is empty (no persistence).</value>
    public string DataDirectory { get; set; } = string.Empty;

    /// <summary>Ring store: a commit completes only once durable on disk. Key <c>Cluster:DurableCommits</c>.</summary>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool DurableCommits { get; set; }

    /// <summary>Throws a clear error naming the key to fix.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(NodeId))
            throw new OptionsValidationError("Cluster:NodeId", "must not be empty");
        if (ReplicationAcks < 0)
            throw new OptionsValidationError("Cluster:ReplicationAcks", "must be 0 or more");
        if (CommitTimeout <= TimeSpan.Zero)
            throw new OptionsValidationError("Cluster:CommitTimeout", "must be positive");
        if (LockLease <= TimeSpan.Zero)
            throw new OptionsValidationError("Cluster:LockLease", "must be positive");
        if (LockWaitTimeout < TimeSpan.Zero)
            throw new OptionsValidationError("Cluster:LockWaitTimeout", "must not be negative");
        if (StateTransferChunkBytes < 1024)
            throw new OptionsValidationError("Cluster:StateTransferChunkBytes", "must be at least 1024");
        if (Quorum < 0)
            throw new OptionsValidationError("Cluster:Quorum", "must be 0 (a majority of the last primary view) or a member count");
        if (Backups < 0)
            throw new OptionsValidationError("Cluster:Backups", "must be 0 or more");
        if (!Enum.IsDefined(ConflictPolicy))
            throw new OptionsValidationError("Cluster:ConflictPolicy", "must be Wait, Fail or Redirect");
        if (!Enum.IsDefined(ReadConsistency))
            throw new OptionsValidationError("Cluster:ReadConsistency", "must be Latest or Local");
        if (!Enum.IsDefined(Locking))
            throw new OptionsValidationError("Cluster:Locking", "must be Pessimistic or None");
    }
}
