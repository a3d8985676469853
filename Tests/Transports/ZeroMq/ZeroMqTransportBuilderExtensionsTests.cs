using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Moq;
using Multicast.AspNetCore;
using Multicast.Transport;
using Multicast.Transports.ZeroMq;

namespace Multicast.Tests.Transports.ZeroMq;

public sealed class ZeroMqTransportBuilderExtensionsTests
{
    [Test]
    public async Task UseZeroMq_OnTheClusteredSessionBuilder_PlugsInAZeroMqTransportAndKeepsTheBuilderType()
    {
        var services = new ServiceCollection();
        services.AddLogging();

        ClusteredSessionBuilder sut = services.AddClusteredSession().UseZeroMq(o => o.SendHighWaterMark = 123).UseRingStore();

        await using var provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<IOptions<ClusterComposition>>().Value.Transport;
        Assert.That(sut.Services, Is.SameAs(services));
        Assert.That(factory, Is.Not.Null);
        await using var transport = factory!(provider);
        Assert.That(transport, Is.InstanceOf<ZeroMqTransport>());
    }

    [Test]
    public void UseZeroMq_InvalidOptions_ThrowsNamingTheKeyAndPlugsInNothing()
    {
        var builder = new Mock<ITransportBuilder>(MockBehavior.Strict);

        var e = Assert.Throws<OptionsValidationError>(() => builder.Object.UseZeroMq(o => o.Peers.Add("udp://x:1")));

        Assert.That(e!.Key, Is.EqualTo("Cluster:ZeroMq:Peers:0"));
        builder.Verify(b => b.UseTransport(It.IsAny<Func<IServiceProvider, ITransport>>()), Times.Never);
    }

    [Test]
    public void UseZeroMq_AnyTransportBuilder_CallsUseTransportOnceAndReturnsTheBuilder()
    {
        var builder = new Mock<ITransportBuilder>();
        builder.Setup(b => b.UseTransport(It.IsAny<Func<IServiceProvider, ITransport>>())).Returns(builder.Object);

        var returned = builder.Object.UseZeroMq(new ZeroMqTransportOptions());

        Assert.That(returned, Is.SameAs(builder.Object));
        builder.Verify(b => b.UseTransport(It.IsAny<Func<IServiceProvider, ITransport>>()), Times.Once);
    }
}
