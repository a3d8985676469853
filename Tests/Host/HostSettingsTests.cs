using Microsoft.Extensions.Configuration;
using Multicast.Host;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.Tests.Host;

public sealed class HostSettingsTests
{
    private static HostSettings Load(params (string Key, string? Value)[] values) =>
        HostSettings.Load(new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build());

    [Test]
    public void Load_Values_BindEverySection()
    {
        var sut = Load(
            ("Urls", "http://127.0.0.1:5007"),
            ("Cluster:NodeId", "n7"),
            ("Cluster:Transport", "zeromq"),
            ("Cluster:Store", "Replicated"),
            ("Cluster:Locking", "None"),
            ("Cluster:ReplicationAcks", "2"),
            ("Cluster:ClusterKey", "0123456789abcdef-secret"),
            ("Cluster:HeartbeatInterval", "00:00:00.200"),
            ("Session:IdleTimeout", "00:05:00"),
            ("Session:DefaultAccess", "ReadOnly"),
            ("Session:Cookie:Name", "sid"),
            ("Session:Cookie:Domain", ".example.com"),
            ("Host:EnableTestEndpoints", "true"),
            ("Host:EnableClusterPage", "true"));

        Assert.That(sut.Transport, Is.EqualTo(TransportKind.ZeroMq));
        Assert.That(sut.Store, Is.EqualTo(StoreKind.Replicated));
        Assert.That(sut.Session.Cluster.NodeId, Is.EqualTo("n7"));
        Assert.That(sut.Session.Cluster.Locking, Is.EqualTo(LockingMode.None));
        Assert.That(sut.Session.Cluster.ReplicationAcks, Is.EqualTo(2));
        Assert.That(sut.Session.Cluster.PublicAddress, Is.EqualTo("http://127.0.0.1:5007"));
        Assert.That(sut.Session.Channel.ClusterKey, Is.EqualTo("0123456789abcdef-secret"));
        Assert.That(sut.Session.Channel.HeartbeatInterval, Is.EqualTo(TimeSpan.FromMilliseconds(200)));
        Assert.That(sut.Session.Channel.NodeId, Is.EqualTo("n7"), "the channel runs under the cluster's node id");
        Assert.That(sut.Session.Session.IdleTimeout, Is.EqualTo(TimeSpan.FromMinutes(5)));
        Assert.That(sut.Session.DefaultAccess, Is.EqualTo(SessionAccess.ReadOnly));
        Assert.That(sut.Session.Cookie.Name, Is.EqualTo("sid"));
        Assert.That(sut.Session.Cookie.Domain, Is.EqualTo(".example.com"));
        Assert.That(sut.EnableTestEndpoints, Is.True);
        Assert.That(sut.EnableClusterPage, Is.True);
    }

    [Test]
    public void Load_Defaults_ClusterPageOnlyForLoopback()
    {
        var sut = Load();

        Assert.That(sut.EnableClusterPage, Is.False);
    }

    [Test]
    public void Load_NoNodeId_DerivesAStableOneFromThePort()
    {
        var sut = Load(("Urls", "http://127.0.0.1:5009"));

        Assert.That(sut.Session.Cluster.NodeId, Is.EqualTo($"{Environment.MachineName}-5009"));
    }

    [TestCase("Cluster:ReplicationAcks", "-1")]
    [TestCase("Cluster:ReplicationAcks", "many")]
    [TestCase("Cluster:Transport", "Carrier-Pigeon")]
    [TestCase("Cluster:Store", "Cloud")]
    [TestCase("Cluster:Locking", "Optimistic")]
    [TestCase("Cluster:LockLease", "00:00:00")]
    [TestCase("Session:IdleTimeout", "-00:01:00")]
    [TestCase("Cluster:ReplicationAks", "1")]
    [TestCase("Session:Cookie:Nmae", "x")]
    [TestCase("Cluster:Encrypt", "true")]
    [TestCase("Cluster:ClusterKey", "short")]
    [TestCase("Cluster:HeartbeatInterval", "00:00:10")]
    public void Load_InvalidValue_ThrowsNamingTheKey(string key, string value)
    {
        var ex = Assert.Catch(() => Load((key, value)));

        Assert.That(ex, Is.InstanceOf<OptionsValidationError>().Or.InstanceOf<InvalidOperationException>());
        Assert.That(ex!.Message, Does.Contain(key));
    }

    [TestCase("Udp", "Cluster:Udp:Interface", "10.1.2.3")]
    [TestCase("ZeroMq", "Cluster:ZeroMq:UnicastEndpoint", "tcp://10.1.2.3:*")]
    [TestCase("ZeroMq", "Cluster:ZeroMq:Peers:0", "tcp://10.1.2.4:5556")]
    public void Load_NoClusterKeyOffLoopback_RefusesNamingTheKeyAndHowToMakeOne(string transport, string key, string value)
    {
        var ex = Assert.Throws<OptionsValidationError>(() => Load(("Cluster:Transport", transport), (key, value)));

        Assert.That(ex!.Message, Does.Contain("Cluster:ClusterKey").And.Contain("openssl rand -base64 32").And.Contain("Cluster:AllowInsecure"));
    }

    [TestCase("Cluster:ClusterKey", "0123456789abcdef-secret")]
    [TestCase("Cluster:AllowInsecure", "true")]
    public void Load_OffLoopbackWithAKeyOrInsecureAskedFor_Starts(string key, string value)
    {
        var sut = Load(("Cluster:Udp:Interface", "10.1.2.3"), (key, value));

        Assert.That(sut.Udp.Interface, Is.EqualTo("10.1.2.3"));
    }

    [Test]
    public void Load_NoClusterKeyOnLoopback_Starts()
    {
        var sut = Load(("Cluster:Udp:Interface", "127.0.0.1"));

        Assert.That(sut.Session.Channel.ClusterKey, Is.Null);
        Assert.That(sut.Session.Channel.AllowInsecure, Is.False);
    }
}
