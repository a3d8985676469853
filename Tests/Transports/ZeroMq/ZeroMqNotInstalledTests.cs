using System.Diagnostics;
using Multicast.Tests.Host;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>
/// A node that chooses the ZeroMQ transport on a machine without libzmq stops at start, naming the package to install.
/// The machine "without libzmq" is a private mount namespace in which the library file is an empty file.
/// </summary>
[Category("Integration")]
public sealed class ZeroMqNotInstalledTests
{
    private const string Library = "/usr/lib/x86_64-linux-gnu/libzmq.so.5";

    [Test]
    public async Task HostStart_ZeroMqWithoutLibzmq_ExitsNonZeroNamingTheDebianPackage()
    {
        if (Environment.UserName != "root" || !File.Exists("/usr/bin/unshare"))
            Assert.Ignore("needs root and /usr/bin/unshare (util-linux) to hide libzmq in a private mount namespace");
        var real = File.ResolveLinkTarget(Library, returnFinalTarget: true)?.FullName ?? Library;
        var port = Random.Shared.Next(20_000, 60_000);
        var host = $"dotnet '{NodeProcess.HostDll}' --Urls=http://127.0.0.1:{port} --Cluster:Transport=ZeroMq --Cluster:ZeroMq:BeaconEnabled=false";
        var info = new ProcessStartInfo("/usr/bin/unshare") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--mount", "/bin/sh", "-c", $"mount --bind /dev/null '{real}' && exec {host}" })
            info.ArgumentList.Add(a);

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
        }
        var output = await stdout + await stderr;

        Assert.That(process.ExitCode, Is.Not.EqualTo(0), output);
        Assert.That(output, Does.Contain("apt-get install libzmq5"));
    }
}
