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

    [Test]
    public async Task Partition_CutOffMemberHealsBack_IsToldItWasExcludedThenRejoinsWithALargerViewId()
    {
        var nodes = await StartGroup(3, o => o.SuspectTimeout = TimeSpan.FromMilliseconds(600));
        var cut = nodes[2];
        var before = cut.Channel.View;

        _hub.Partition(cut.Transport.LocalAddress);
        await AllSee(nodes[0], nodes[1]);
        _hub.Heal();
        await AllSee(nodes);

        Assert.That(cut.Handler.Exclusions, Is.Not.Empty, "the member that was cut off is told");
        var excluded = cut.Handler.Exclusions[0];
        Assert.That(excluded.Id, Is.GreaterThanOrEqualTo(before.Id));
        Assert.That(cut.Channel.View.Id, Is.GreaterThan(cut.Handler.Exclusions[^1].Id), "the view it rejoins with is newer than the one it lost");
        Assert.That(nodes[0].Handler.Exclusions, Is.Empty, "the members that stayed were never excluded");
    }
}
