using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Stores;

/// <summary>The ClusterStore contract, for both stores, while the in-memory network drops, duplicates and
/// reorders datagrams. The ring runs three nodes with one backup, so one node of three serves each session
/// through its owner.</summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class LossyInMemoryStoreTests(bool ring) : ClusterStoreContractTests
{
    private InMemoryHub _hub = new();

    [SetUp]
    public void NewHub() => _hub = new InMemoryHub(seed: Environment.TickCount)
    {
        DropProbability = 0.05,
        DuplicateProbability = 0.05,
        ReorderProbability = 0.05,
    };

    protected override ITransport CreateTransport(int index) => _hub.CreateTransport();

    protected override IClusterStore CreateStore(IGroupChannel channel, ClusterStoreOptions options, TimeProvider time) =>
        ring ? new RingClusterStore(channel, options, time, StoreLog(options)) : new ReplicatedClusterStore(channel, options, time, StoreLog(options));
}
