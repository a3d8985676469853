using System.Net;
using System.Net.Sockets;

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

    [Test]
    public async Task WaitHealthyAsync_PickedPortTakenBeforeTheNodeBindsIt_TheNodeMovesToAnotherPort()
    {
        // What a parallel fixture (or another process) can do between the pick and the node's bind.
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        using var http = new HttpClient();
        await using var sut = NodeProcess.Start("moved", [
            "--Cluster:Transport=Udp", $"--Cluster:ClusterId=test-{Guid.NewGuid():N}",
            $"--Cluster:Udp:Group=239.{Random.Shared.Next(256)}.{Random.Shared.Next(256)}.{Random.Shared.Next(1, 255)}",
            $"--Cluster:Udp:Port={Random.Shared.Next(20000, 60000)}",
        ], port);

        await sut.WaitHealthyAsync(http, TimeSpan.FromSeconds(60));

        Assert.That(sut.Url.Port, Is.Not.EqualTo(port));
        Assert.That(sut.Output, Does.Contain($"127.0.0.1:{port} was taken"));
        using var response = await http.GetAsync(new Uri(sut.Url, "/health"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }
}
