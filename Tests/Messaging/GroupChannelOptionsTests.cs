using Multicast.Messaging;

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
        }

        Assert.That(sut.Validate, Throws.TypeOf<OptionsValidationError>().With.Property(nameof(OptionsValidationError.Key)).EqualTo($"Cluster:{key}"));
    }
}
