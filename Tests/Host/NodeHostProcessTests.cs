namespace Multicast.Tests.Host;

/// <summary>The node host as a process: configuration errors stop it with a non-zero exit code naming the key.</summary>
[Category("Integration")]
public sealed class NodeHostProcessTests
{
    [TestCase("--Cluster:ReplicationAcks=-1", "Cluster:ReplicationAcks")]
    [TestCase("--Cluster:Transport=Smoke", "Cluster:Transport")]
    [TestCase("--Cluster:Udp:Port=70000", "Cluster:Udp:Port")]
    [TestCase("--Urls=not-a-url", "Urls")]
    public async Task Start_InvalidConfiguration_ExitsNonZeroNamingTheKey(string argument, string key)
    {
        var (exitCode, output) = await NodeProcess.RunToExitAsync(TimeSpan.FromSeconds(60), "--Urls=http://127.0.0.1:0", argument);

        Assert.That(exitCode, Is.Not.Zero, output);
        Assert.That(output, Does.Contain(key));
    }
}
