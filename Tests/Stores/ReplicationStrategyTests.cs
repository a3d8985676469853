using Multicast.Stores;

namespace Multicast.Tests.Stores;

/// <summary>The write concern, stated once (<see cref="ReplicationStrategy.RequiredAcks"/>): what the primary decision
/// counts on (no view) and what a commit waits for (its eligible replicas in the view).</summary>
public sealed class ReplicationStrategyTests
{
    private static ClusterStoreOptions Acks(int replicationAcks) => new() { NodeId = "n1", ReplicationAcks = replicationAcks };

    [TestCase(1, 1, ExpectedResult = 1)]
    [TestCase(3, 1, ExpectedResult = 1)]
    [TestCase(2, 3, ExpectedResult = 2)]
    [TestCase(0, 2, ExpectedResult = 0)]
    [TestCase(1, 0, ExpectedResult = 0)]
    public int RequiredAcks_RingWithoutAView_IsCappedByItsBackups(int replicationAcks, int backups) =>
        new BackupReplication(backups).RequiredAcks(Acks(replicationAcks));

    [TestCase(2, 2, 1, ExpectedResult = 1)] // one backup not ready (catching up) or gone
    [TestCase(2, 2, 2, ExpectedResult = 2)]
    [TestCase(1, 2, 2, ExpectedResult = 1)]
    [TestCase(1, 1, 0, ExpectedResult = 0)] // the lone survivor: nothing to wait for
    // An owner catching up is one more replica until it is handed its sessions back; once ready it counts.
    [TestCase(2, 1, 2, ExpectedResult = 2)]
    public int RequiredAcks_RingInAView_IsCappedByTheEligibleReplicas(int replicationAcks, int backups, int eligible) =>
        new BackupReplication(backups).RequiredAcks(Acks(replicationAcks), eligible);

    [TestCase(1, ExpectedResult = 1)]
    [TestCase(4, ExpectedResult = 4)]
    [TestCase(0, ExpectedResult = 0)]
    public int RequiredAcks_BroadcastWithoutAView_IsReplicationAcks(int replicationAcks) =>
        BroadcastReplication.Instance.RequiredAcks(Acks(replicationAcks));

    [TestCase(1, 4, ExpectedResult = 1)]
    [TestCase(3, 2, ExpectedResult = 2)] // fewer ready members than asked for: Degraded, not stalled
    [TestCase(2, 0, ExpectedResult = 0)]
    [TestCase(0, 3, ExpectedResult = 0)]
    public int RequiredAcks_BroadcastInAView_IsCappedByTheEligibleReplicas(int replicationAcks, int eligible) =>
        BroadcastReplication.Instance.RequiredAcks(Acks(replicationAcks), eligible);
}
