using Multicast.Transports.Udp;

namespace Multicast.Tests.Transports.Udp;

[TestFixture]
public sealed class UdpTransportOptionsTests
{
    private static IEnumerable<TestCaseData> InvalidSettings()
    {
        yield return Case("Group", o => o.Group = "10.0.0.1");
        yield return Case("Group", o => o.Group = "not-an-address");
        yield return Case("Group", o => o.Group = "ff02::1");
        yield return Case("Port", o => o.Port = 0);
        yield return Case("Port", o => o.Port = 70000);
        yield return Case("Interface", o => o.Interface = "239.1.2.3");
        yield return Case("Interface", o => o.Interface = "0.0.0.0");
        yield return Case("Interface", o => o.Interface = "");
        yield return Case("Ttl", o => o.Ttl = 256);
        yield return Case("Ttl", o => o.Ttl = -1);
        yield return Case("DatagramSize", o => o.DatagramSize = 100);
        yield return Case("DatagramSize", o => o.DatagramSize = 65508);
        yield return Case("ReceiveBufferBytes", o => o.ReceiveBufferBytes = -1);
        yield return Case("SendBufferBytes", o => o.SendBufferBytes = int.MaxValue);

        static TestCaseData Case(string key, Action<UdpTransportOptions> breakIt) =>
            new TestCaseData(key, breakIt).SetArgDisplayNames(key);
    }

    [Test]
    public void Validate_Defaults_Pass()
    {
        var sut = new UdpTransportOptions();

        Assert.That(sut.Validate, Throws.Nothing);
        Assert.That(sut.Group, Is.EqualTo("239.255.77.77"));
        Assert.That(sut.Port, Is.EqualTo(45566));
        Assert.That(sut.Interface, Is.EqualTo("127.0.0.1"));
        Assert.That(sut.Ttl, Is.EqualTo(1));
        Assert.That(sut.DatagramSize, Is.EqualTo(1400));
    }

    [Test]
    public void Validate_LoopbackSizedDatagrams_Pass()
    {
        var sut = new UdpTransportOptions { DatagramSize = 65000 };

        Assert.That(sut.Validate, Throws.Nothing);
    }

    [TestCaseSource(nameof(InvalidSettings))]
    public void Validate_InvalidSetting_ThrowsNamingTheKey(string key, Action<UdpTransportOptions> breakIt)
    {
        var sut = new UdpTransportOptions();
        breakIt(sut);

        var error = Assert.Throws<OptionsValidationError>(sut.Validate);

        Assert.That(error!.Key, Is.EqualTo($"Cluster:Udp:{key}"));
        Assert.That(error.Message, Does.Contain($"Cluster:Udp:{key}"));
    }

    [Test]
    public void Constructor_InvalidOptions_ThrowsNamingTheKey()
    {
        var options = new UdpTransportOptions { Port = -5 };

        var error = Assert.Throws<OptionsValidationError>(() => _ = new UdpMulticastTransport(options));

        Assert.That(error!.Key, Is.EqualTo("Cluster:Udp:Port"));
    }
}
