using Multicast.Tests.Messaging;
using Multicast.Messaging;
using Multicast.Transport;
using Multicast.Transports.Udp;

namespace Multicast.Tests.Transports.Udp;

/// <summary>The group channel contract over real UDP multicast on loopback (a random group and port per test).</summary>
[TestFixture]
[Category("Integration")]
public sealed class UdpGroupChannelTests : GroupChannelContractTests
{
    private UdpTransportOptions _options = null!;

    [SetUp]
    public void NewGroup() => _options = UdpTestNetwork.RandomGroup();

    /// <summary>The base timings, with suspicion slow enough that a CPU-starved receive thread on a busy
    /// two-core CI machine is not mistaken for a crash (real sockets and threads, unlike the in-memory hub).</summary>
    protected override GroupChannelOptions CreateOptions(string nodeId)
    {
        var options = base.CreateOptions(nodeId);
        options.SuspectTimeout = TimeSpan.FromSeconds(5);
        return options;
    }

    protected override ITransport CreateTransport() => new UdpMulticastTransport(_options);

    /// <summary>Secure by default over UDP: the transport says whether its interface is loopback (nothing is bound
    /// before StartAsync, so any address serves), and without a key the channel refuses anything else unless
    /// AllowInsecure is set.</summary>
    [TestCase("127.0.0.1", false, null, false)]
    [TestCase("127.0.0.2", false, null, false)]
    [TestCase("192.0.2.10", false, null, true)]
    [TestCase("192.0.2.10", true, null, false)]
    [TestCase("192.0.2.10", false, "a-cluster-key-0123456789", false)]
    public async Task Constructor_WithoutAKey_RefusesUnlessTheInterfaceIsLoopbackOrInsecureAskedFor(string address, bool allowInsecure, string? key, bool refused)
    {
        _options.Interface = address;
        var transport = new UdpMulticastTransport(_options);
        var options = new GroupChannelOptions { NodeId = "n1", AllowInsecure = allowInsecure, ClusterKey = key };
        Assert.That(transport.IsLoopback, Is.EqualTo(address.StartsWith("127.", StringComparison.Ordinal)));

        if (!refused)
        {
            await new ReliableGroupChannel(transport, options).DisposeAsync();
            return;
        }
        var ex = Assert.Throws<OptionsValidationError>(() => _ = new ReliableGroupChannel(transport, options));
        Assert.That(ex!.Message, Does.Contain("Cluster:ClusterKey").And.Contain("openssl rand -base64 32").And.Contain("Cluster:AllowInsecure=true"));
        await transport.DisposeAsync();
    }
}
