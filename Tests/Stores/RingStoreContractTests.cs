using Multicast.Messaging;
using Multicast.Stores;

namespace Multicast.Tests.Stores;

/// <summary>The ClusterStore contract for the ring store: three nodes, one backup, so one node of three holds
/// no copy of a session and serves it through its owner.</summary>
public abstract class RingStoreContractTests : ClusterStoreContractTests
{
    protected override IClusterStore CreateStore(IGroupChannel channel, ClusterStoreOptions options, TimeProvider time) =>
        new RingClusterStore(channel, options, time);

    protected override bool MustHold(TestNode node, string id) => ((RingClusterStore)node.Store).MustHold(id);
}
