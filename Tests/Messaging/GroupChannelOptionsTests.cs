using Moq;
using Multicast.Messaging;
using Multicast.Transport;

namespace Multicast.Tests.Messaging;

public sealed class GroupChannelOptionsTests
{
    [Test]
    public void Validate_Defaults_Pass()
    {
        var sut = new GroupChannelOptions { NodeId = "n1" };

        Assert.That(sut.Validate, Throws.Nothing);
    }

    [TestCase("DatagramSize")]
    [TestCase("ClusterKey")]
    [TestCase("Encrypt")]
    [TestCase("SendWindowBytes")]
    [TestCase("SuspectTimeout")]
    [TestCase("NodeId")]
    [TestCase("SlowMemberTimeout")]
    public void Validate_BadValue_NamesTheKey(string key)
    {
        var sut = new GroupChannelOptions { NodeId = "n1" };
        switch (key)
        {
            case "DatagramSize": sut.DatagramSize = 100; break;
            case "ClusterKey": sut.ClusterKey = "short"; break;
            case "Encrypt": sut.Encrypt = true; break;
            case "SendWindowBytes": sut.SendWindowBytes = sut.DatagramSize - 1; break;
            case "SuspectTimeout": sut.SuspectTimeout = sut.HeartbeatInterval; break;
            case "NodeId": sut.NodeId = " "; break;
            case "SlowMemberTimeout": sut.SlowMemberTimeout = TimeSpan.Zero; break;
        }

        Assert.That(sut.Validate, Throws.TypeOf<OptionsValidationError>().With.Property(nameof(OptionsValidationError.Key)).EqualTo($"Cluster:{key}"));
    }

    [Test]
    public void Validate_NodeIdTooLongForAHeartbeatAtTheSmallestDatagram_NamesTheKey()
    {
        var sut = new GroupChannelOptions { NodeId = new string('n', 90), DatagramSize = GroupChannelOptions.MinDatagramSize };

        Assert.That(sut.Validate, Throws.TypeOf<OptionsValidationError>().With.Property(nameof(OptionsValidationError.Key)).EqualTo("Cluster:NodeId"));
    }

    [TestCase(false, false, null, true)]
    [TestCase(true, false, null, false)]
    [TestCase(false, true, null, false)]
    [TestCase(false, false, "a-cluster-key-0123456789", false)]
    public async Task Constructor_WithoutAKey_RefusesUnlessLoopbackOrInsecureAskedFor(bool loopback, bool allowInsecure, string? key, bool refused)
    {
        var transport = new Mock<ITransport>();
        transport.Setup(t => t.IsLoopback).Returns(loopback);
        transport.Setup(t => t.MaxDatagramSize).Returns(1400);
        var options = new GroupChannelOptions { NodeId = "n1", AllowInsecure = allowInsecure, ClusterKey = key };

        ReliableGroupChannel? sut = null;
        TestDelegate create = () => sut = new ReliableGroupChannel(transport.Object, options);

        if (refused)
        {
            Assert.That(create, Throws.TypeOf<OptionsValidationError>()
                .With.Property(nameof(OptionsValidationError.Key)).EqualTo("Cluster:ClusterKey")
                .And.Message.Contains("openssl rand -base64 32").And.Message.Contains("Cluster:AllowInsecure=true"));
        }
        else
        {
            Assert.That(create, Throws.Nothing);
        }
        if (sut is not null)
            await sut.DisposeAsync();
    }
}
