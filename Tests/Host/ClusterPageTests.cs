using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Multicast.Host;
using Multicast.Messaging;

namespace Multicast.Tests.Host;

public sealed class ClusterPageTests
{
    private static HostSettings Settings(bool enabled) =>
        HostSettings.Load(new ConfigurationBuilder().AddInMemoryCollection([
            new KeyValuePair<string, string?>("Host:EnableClusterPage", enabled ? "true" : "false"),
            new KeyValuePair<string, string?>("Cluster:NodeId", "n1"),
        ]).Build());

    private static HttpContext From(string address) =>
        new DefaultHttpContext { Connection = { RemoteIpAddress = IPAddress.Parse(address) } };

    [TestCase("127.0.0.1", true)]
    [TestCase("::1", true)]
    [TestCase("::ffff:127.0.0.1", true)]
    [TestCase("10.1.2.3", false)]
    [TestCase("2001:db8::1", false)]
    public void Allowed_PageOff_OnlyLoopbackClients(string address, bool expected)
    {
        var sut = ClusterPage.Allowed(From(address), Settings(enabled: false));

        Assert.That(sut, Is.EqualTo(expected));
    }

    [Test]
    public void Allowed_EnableClusterPage_EveryClient()
    {
        var sut = ClusterPage.Allowed(From("10.1.2.3"), Settings(enabled: true));

        Assert.That(sut, Is.True);
    }

    [Test]
    public void MembersOf_ThreeMembers_RangesCoverTheRingOnceEndingAtEachPosition()
    {
        var view = new MembershipView(4, [new Member("a", 1, "x", ""), new Member("b", 1, "y", ""), new Member("c", 1, "z", "")]);

        var sut = ClusterStatus.MembersOf(view);

        Assert.That(sut.Sum(m => m.RingShare), Is.EqualTo(1.0).Within(0.0005));
        foreach (var m in sut)
            Assert.That(m.RingRange, Does.EndWith("-" + m.RingPosition), "a member arbitrates up to its own ring position");
        var ring = sut.OrderBy(m => m.RingIndex).ToArray();
        for (var i = 1; i < ring.Length; i++)
            Assert.That(ring[i].RingRange, Does.StartWith($"{ring[i - 1].RingIndex + 1:x4}-"), "ranges are contiguous");
    }

    [Test]
    public void MembersOf_OneMember_TakesTheWholeRing()
    {
        var sut = ClusterStatus.MembersOf(new MembershipView(1, [new Member("a", 1, "x", "")])).Single();

        Assert.That(sut.RingRange, Is.EqualTo("0000-ffff"));
        Assert.That(sut.RingShare, Is.EqualTo(1.0));
    }
}
