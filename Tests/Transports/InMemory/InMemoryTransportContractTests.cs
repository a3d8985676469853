using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Transports.InMemory;

/// <summary>The transport contract on the in-memory hub, without faults.</summary>
public sealed class InMemoryTransportContractTests : TransportContractTests
{
    private InMemoryHub _hub = new();

    [SetUp]
    public void NewHub() => _hub = new InMemoryHub(seed: Environment.TickCount);

    protected override string UnreachableAddress => "mem://999999";

    protected override string ReceiveThreadName => "Multicast InMemory Receive";

    protected override ITransport CreateTransport() => _hub.CreateTransport();

    protected override Task InjectRawAsync(ITransport target, byte[] bytes)
    {
        _hub.Inject(target.LocalAddress, bytes);
        return Task.CompletedTask;
    }
}
