using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Stores;

/// <summary>The ring store's contract while the in-memory network drops, duplicates and reorders datagrams.</summary>
[TestFixture]
public sealed class RingStoreLossyInMemoryTests : RingStoreContractTests
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
}
