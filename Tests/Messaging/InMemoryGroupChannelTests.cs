using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Messaging;

/// <summary>The contract over a clean in-memory network.</summary>
public sealed class InMemoryGroupChannelTests : GroupChannelContractTests
{
    private InMemoryHub _hub = null!;

    [SetUp]
    public void CreateHub() => _hub = new InMemoryHub(seed: 7);

    protected override ITransport CreateTransport() => _hub.CreateTransport();
}
