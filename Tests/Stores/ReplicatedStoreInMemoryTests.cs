using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Stores;

/// <summary>The ClusterStore contract, replicated store, three nodes on the in-memory transport.</summary>
[TestFixture]
public sealed class ReplicatedStoreInMemoryTests : ClusterStoreContractTests
{
    private InMemoryHub _hub = new();

    [SetUp]
    public void NewHub() => _hub = new InMemoryHub(seed: Environment.TickCount);

    protected override ITransport CreateTransport(int index) => _hub.CreateTransport();
}
