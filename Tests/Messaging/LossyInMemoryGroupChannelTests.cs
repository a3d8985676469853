using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>The same contract while the network loses 20% of datagrams, duplicates and reorders others.</summary>
public sealed class LossyInMemoryGroupChannelTests : GroupChannelContractTests
{
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub() => _hub = new InMemoryHub(seed: 11)
    {
        DropProbability = 0.2,
        DuplicateProbability = 0.1,
        ReorderProbability = 0.1,
    };

    protected override ITransport CreateTransport() => _hub.CreateTransport();
}
