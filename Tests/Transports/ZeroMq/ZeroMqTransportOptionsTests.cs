using Multicast.Transports.ZeroMq;

namespace Multicast.Tests.Transports.ZeroMq;

public sealed class ZeroMqTransportOptionsTests
{
    [Test]
    public void Validate_Defaults_Passes()
    {
        var sut = new ZeroMqTransportOptions();

        Assert.DoesNotThrow(sut.Validate);
        Assert.That(sut.SendHighWaterMark, Is.EqualTo(ZeroMqTransportOptions.DefaultHighWaterMark));
        Assert.That(sut.Rate, Is.EqualTo(ZeroMqTransportOptions.DefaultRate));
    }

    private static IEnumerable<TestCaseData> Invalid()
    {
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.PublishEndpoint = "127.0.0.1:5555"), "Cluster:ZeroMq:PublishEndpoint").SetName("PublishEndpoint without scheme");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.UnicastEndpoint = ""), "Cluster:ZeroMq:UnicastEndpoint").SetName("UnicastEndpoint empty");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => { o.Peers.Add("tcp://127.0.0.1:1"); o.Peers.Add("http://x"); }), "Cluster:ZeroMq:Peers:1").SetName("Peers second entry bad");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.GroupEndpoint = "tcp://127.0.0.1:1"), "Cluster:ZeroMq:GroupEndpoint").SetName("GroupEndpoint not multicast");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => { o.GroupEndpoint = "norm://239.1.1.1:5000"; o.Peers.Add("tcp://127.0.0.1:1"); }), "Cluster:ZeroMq:Peers").SetName("Peers with GroupEndpoint");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.SendHighWaterMark = 0), "Cluster:ZeroMq:SendHighWaterMark").SetName("SendHighWaterMark zero");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.ReceiveHighWaterMark = -1), "Cluster:ZeroMq:ReceiveHighWaterMark").SetName("ReceiveHighWaterMark negative");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.Rate = 0), "Cluster:ZeroMq:Rate").SetName("Rate zero");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.MaxDatagramSize = 10), "Cluster:ZeroMq:MaxDatagramSize").SetName("MaxDatagramSize tiny");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.AdvertisedHost = "*"), "Cluster:ZeroMq:AdvertisedHost").SetName("AdvertisedHost wildcard");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => { o.BeaconEnabled = true; o.BeaconGroup = "10.0.0.1"; }), "Cluster:ZeroMq:BeaconGroup").SetName("BeaconGroup not multicast");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => { o.BeaconEnabled = true; o.BeaconPort = 70000; }), "Cluster:ZeroMq:BeaconPort").SetName("BeaconPort out of range");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => { o.BeaconEnabled = true; o.BeaconInterval = TimeSpan.Zero; }), "Cluster:ZeroMq:BeaconInterval").SetName("BeaconInterval zero");
    }

    [TestCaseSource(nameof(Invalid))]
    public void Validate_InvalidValue_ThrowsNamingTheKey(Action<ZeroMqTransportOptions> configure, string key)
    {
        var sut = new ZeroMqTransportOptions();
        configure(sut);

        var e = Assert.Throws<OptionsValidationError>(sut.Validate);

        Assert.That(e!.Key, Is.EqualTo(key));
        Assert.That(e.Message, Does.Contain(key));
    }

    [TestCase("norm://127.0.0.1;239.192.1.1:5556")]
    [TestCase("epgm://127.0.0.1;239.192.1.1:5555")]
    public void Validate_MulticastGroupEndpoint_Passes(string endpoint)
    {
        var sut = new ZeroMqTransportOptions { GroupEndpoint = endpoint };

        Assert.DoesNotThrow(sut.Validate);
    }
}
