using Multicast.Transports.ZeroMq;
using NetMQ;

namespace Multicast.Tests.Transports.ZeroMq;

public sealed class ZeroMqTransportOptionsTests
{
    private static readonly NetMQCertificate Keys = new();

    [Test]
    public void Validate_Defaults_Passes()
    {
        var sut = new ZeroMqTransportOptions();

        Assert.DoesNotThrow(sut.Validate);
        Assert.That(sut.SendHighWaterMark, Is.EqualTo(ZeroMqTransportOptions.DefaultHighWaterMark));
        Assert.That(sut.ReconnectInterval, Is.EqualTo(ZeroMqTransportOptions.DefaultReconnectInterval));
        Assert.That(sut.CurveServerSecretKey, Is.Null);
    }

    private static IEnumerable<TestCaseData> Invalid()
    {
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.PublishEndpoint = "127.0.0.1:5555"), "Cluster:ZeroMq:PublishEndpoint").SetName("PublishEndpoint without scheme");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.UnicastEndpoint = ""), "Cluster:ZeroMq:UnicastEndpoint").SetName("UnicastEndpoint empty");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => { o.Peers.Add("tcp://127.0.0.1:1"); o.Peers.Add("http://x"); }), "Cluster:ZeroMq:Peers:1").SetName("Peers second entry bad");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.PublishEndpoint = "ipc:///tmp/node"), "Cluster:ZeroMq:PublishEndpoint").SetName("PublishEndpoint ipc");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.UnicastEndpoint = "tcp://127.0.0.1"), "Cluster:ZeroMq:UnicastEndpoint").SetName("UnicastEndpoint without port");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.UnicastEndpoint = "tcp://127.0.0.1:70000"), "Cluster:ZeroMq:UnicastEndpoint").SetName("UnicastEndpoint port out of range");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.Peers.Add("tcp://127.0.0.1:*")), "Cluster:ZeroMq:Peers:0").SetName("Peers wildcard port");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.Peers.Add("tcp://*:5555")), "Cluster:ZeroMq:Peers:0").SetName("Peers wildcard host");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.ReconnectInterval = TimeSpan.Zero), "Cluster:ZeroMq:ReconnectInterval").SetName("ReconnectInterval zero");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.ReconnectIntervalMax = TimeSpan.FromMilliseconds(10)), "Cluster:ZeroMq:ReconnectIntervalMax").SetName("ReconnectIntervalMax below ReconnectInterval");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.CurveServerSecretKey = "short"), "Cluster:ZeroMq:CurveServerSecretKey").SetName("CurveServerSecretKey too short");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.CurveServerSecretKey = new string('~', 40)), "Cluster:ZeroMq:CurveServerSecretKey").SetName("CurveServerSecretKey not Z85");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => { o.CurveServerSecretKey = Keys.SecretKeyZ85; o.CurveServerPublicKey = new NetMQCertificate().PublicKeyZ85; }), "Cluster:ZeroMq:CurveServerPublicKey").SetName("CurveServerPublicKey of another pair");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.CurveServerPublicKey = Keys.PublicKeyZ85), "Cluster:ZeroMq:CurveServerPublicKey").SetName("CurveServerPublicKey without the secret");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => { o.CurveServerSecretKey = Keys.SecretKeyZ85; o.CurveClientSecretKey = "x"; }), "Cluster:ZeroMq:CurveClientSecretKey").SetName("CurveClientSecretKey bad");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.SendHighWaterMark = 0), "Cluster:ZeroMq:SendHighWaterMark").SetName("SendHighWaterMark zero");
        yield return new TestCaseData((Action<ZeroMqTransportOptions>)(o => o.ReceiveHighWaterMark = -1), "Cluster:ZeroMq:ReceiveHighWaterMark").SetName("ReceiveHighWaterMark negative");
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

    [Test]
    public void Validate_MatchingCurveKeys_Passes()
    {
        var sut = new ZeroMqTransportOptions
        {
            CurveServerSecretKey = Keys.SecretKeyZ85,
            CurveServerPublicKey = Keys.PublicKeyZ85,
            CurveClientSecretKey = new NetMQCertificate().SecretKeyZ85,
        };

        Assert.DoesNotThrow(sut.Validate);
    }

    [TestCase("tcp://*:*")]
    [TestCase("tcp://0.0.0.0:0")]
    [TestCase("tcp://node-a.example:5555")]
    [TestCase("tcp://[::1]:5555")]
    public void Validate_BindEndpoint_Passes(string endpoint)
    {
        var sut = new ZeroMqTransportOptions { PublishEndpoint = endpoint };

        Assert.DoesNotThrow(sut.Validate);
    }
}
