using System.Diagnostics;

namespace Multicast.Tests.Transports.Udp;

/// <summary>Network namespaces for loss tests through tools/netns/up.sh and down.sh; needs root, ip and iptables.</summary>
internal sealed class NetnsTools
{
    private NetnsTools(string ip) => Ip = ip;

    /// <summary>The path of the ip (iproute2) executable.</summary>
    public string Ip { get; }

    /// <summary>The tools are there and this process is root, or the test is reported as ignored, naming what is missing.</summary>
    public static NetnsTools RequireOrIgnore()
    {
        var missing = new List<string>();
        if (!Environment.IsPrivilegedProcess)
            missing.Add("root (network namespaces and iptables need it)");
        var ip = Find("ip");
        if (ip is null)
            missing.Add("ip (Debian package iproute2)");
        if (Find("iptables") is null)
            missing.Add("iptables (Debian package iptables)");
        if (!OperatingSystem.IsLinux())
            missing.Add("Linux");
        if (missing.Count > 0)
            Assert.Ignore($"The real packet loss test needs: {string.Join(", ", missing)}. Run 'bash tools/test.sh' as root on Debian: it installs them.");
        return new NetnsTools(ip!);
    }

    /// <summary>Creates the namespaces; returns each node's namespace and address.</summary>
    public IReadOnlyList<(string Namespace, string Address)> Up(string prefix, int nodes, double loss)
    {
        var output = RunScript("up.sh", prefix, nodes.ToString(System.Globalization.CultureInfo.InvariantCulture), loss.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' '))
            .Select(parts => (parts[0], parts[1]))
            .ToList();
    }

    /// <summary>Deletes every namespace with the prefix; never throws (it runs in finally blocks).</summary>
    public void Down(string prefix)
    {
        try
        {
            RunScript("down.sh", prefix);
        }
        catch (AssertionException ex)
        {
            TestContext.Out.WriteLine($"cleanup of {prefix}* failed: {ex.Message}");
        }
    }

    /// <summary>Drops every UDP datagram into (<paramref name="incoming"/>) and out of (<paramref name="outgoing"/>) the
    /// namespace with iptables — its own datagrams to itself included — or, when <paramref name="cut"/> is false, lifts
    /// those rules again.</summary>
    public void CutUdp(string ns, bool cut, bool incoming = true, bool outgoing = true)
    {
        var action = cut ? "-A" : "-D";
        if (incoming)
            Run(Ip, "netns", "exec", ns, "iptables", "-w", action, "INPUT", "-p", "udp", "-j", "DROP");
        if (outgoing)
            Run(Ip, "netns", "exec", ns, "iptables", "-w", action, "OUTPUT", "-p", "udp", "-j", "DROP");
    }

    /// <summary>What <paramref name="ns"/> lost so far: the channel's data datagrams and the rest that its loss rule dropped,
    /// and the datagrams its kernel dropped for a full socket receive buffer.</summary>
    public (long Data, long Other, long ReceiveBuffer) Dropped(string ns)
    {
        var parts = RunScript("drops.sh", ns).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return (Number(parts[1]), Number(parts[3]), Number(parts[5]));

        static long Number(string text) => long.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The built tools/NetProbe assembly (the test project references it, so it is built with the tests).</summary>
    public static string NetProbeAssembly()
    {
        // Tests/bin/<Configuration>/<tfm>/ -> tools/NetProbe/bin/<Configuration>/<tfm>/NetProbe.dll
        var testDirectory = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        var framework = testDirectory.Name;
        var configuration = testDirectory.Parent!.Name;
        var path = Path.Combine(RepositoryRoot(), "tools", "NetProbe", "bin", configuration, framework, "NetProbe.dll");
        if (!File.Exists(path))
            Assert.Fail($"{path} is missing: build tools/NetProbe ({configuration}).");
        return path;
    }

    /// <summary>The dotnet host running this test (the CLI exports it), else dotnet from PATH.</summary>
    public static string Dotnet() => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Multicast.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("Multicast.sln not found above the test directory.");
    }

    private static string RunScript(string script, params string[] arguments) =>
        Run("bash", [Path.Combine(RepositoryRoot(), "tools", "netns", script), .. arguments]);

    private static string Run(string file, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            Assert.Fail($"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}): {stderr.Result}");
        return stdout;
    }

    private static string? Find(string tool)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"])
            .Select(dir => Path.Combine(dir, tool))
            .FirstOrDefault(File.Exists);
    }
}
