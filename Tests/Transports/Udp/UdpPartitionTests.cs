using System.Diagnostics;
using Multicast.Tests.TestSupport;

namespace Multicast.Tests.Transports.Udp;

/// <summary>
/// A real partition of the reliable channel over UDP: three nodes in network namespaces (tools/NetProbe in its
/// "member" role prints every view), then one node's UDP dropped by iptables — both ways, or only what it receives, or
/// only what it sends. The cut-off node must learn within about SuspectTimeout that it is alone (a view of itself
/// only), the others (when they cannot hear it) go on without it, and all three are one group again after healing.
/// Issue 10, N10: the cut-off node kept its three-member view for as long as the cut lasted — the view it proposed
/// went to its own receive thread as a UDP datagram, which iptables dropped with the rest.
/// </summary>
[TestFixture]
[Category("Integration")]
[NonParallelizable] // three processes on two cores
public sealed class UdpPartitionTests
{
    private const int SuspectMilliseconds = 2000;
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ViewTimeout = TimeSpan.FromSeconds(30);

    [TestCase(true, true)]
    [TestCase(true, false)]
    [TestCase(false, true)]
    public async Task CutUdp_OneNode_ItInstallsAViewOfItselfAndRejoinsAfterHealing(bool incoming, bool outgoing)
    {
        var netns = NetnsTools.RequireOrIgnore();
        var probe = NetnsTools.NetProbeAssembly();
        var prefix = "mcc" + Convert.ToHexStringLower(BitConverter.GetBytes(Random.Shared.Next()))[..5];
        var group = $"239.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(0, 256)}.{Random.Shared.Next(1, 255)}";
        var port = Random.Shared.Next(20000, 60000).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var nodes = new List<ProbeProcess>();
        var cut = false;
        IReadOnlyList<(string Namespace, string Address)> addresses = [];
        try
        {
            addresses = netns.Up(prefix, nodes: 3, loss: 0);
            for (var i = 0; i < 3; i++)
            {
                var node = ProbeProcess.Start($"n{i}", netns.Ip,
                [
                    "netns", "exec", addresses[i].Namespace, NetnsTools.Dotnet(), probe,
                    "--role", "member", "--node-id", $"n{i}", "--interface", addresses[i].Address,
                    "--group", group, "--port", port, "--members", "3", "--suspect-ms", $"{SuspectMilliseconds}",
                    "--timeout-seconds", "120",
                ]);
                nodes.Add(node);
                await node.WaitForLineAsync("STARTED", StartTimeout);
            }
            foreach (var node in nodes)
                await node.WaitForLineAsync("READY", StartTimeout);
            var before = nodes.Select(n => n.Lines.Count()).ToArray();
            string? LastView(int i) => nodes[i].Lines.Skip(before[i]).LastOrDefault(l => l.StartsWith("VIEW ", StringComparison.Ordinal));
            string Views() => string.Join("\n", nodes.Select((n, i) => $"{n.Name}: {LastView(i) ?? "(no new view)"}"));

            var clock = Stopwatch.StartNew();
            netns.CutUdp(addresses[2].Namespace, cut: true, incoming, outgoing);
            cut = true;
            await Eventually.Until(() => LastView(2)?.StartsWith("VIEW 1 ", StringComparison.Ordinal) == true,
                "n2, cut off, installs a view of itself only", Views, ViewTimeout);
            var alone = clock.Elapsed;
            if (outgoing)
                await Eventually.Until(() => LastView(0)?.StartsWith("VIEW 2 ", StringComparison.Ordinal) == true
                    && LastView(1)?.StartsWith("VIEW 2 ", StringComparison.Ordinal) == true, "n0 and n1 go on without n2", Views, ViewTimeout);
            TestContext.Out.WriteLine($"cut (incoming {incoming}, outgoing {outgoing}): n2 alone after {alone.TotalMilliseconds:0} ms "
                + $"(SuspectTimeout {SuspectMilliseconds} ms)\n{Views()}");

            netns.CutUdp(addresses[2].Namespace, cut: false, incoming, outgoing);
            cut = false;
            await Eventually.Until(() => Enumerable.Range(0, 3).All(i => LastView(i)?.StartsWith("VIEW 3 ", StringComparison.Ordinal) == true),
                "one view of three after healing", Views, ViewTimeout);
        }
        finally
        {
            if (cut)
                netns.CutUdp(addresses[2].Namespace, cut: false, incoming, outgoing);
            foreach (var node in nodes)
                node.WriteLine("EXIT");
            await Task.WhenAll(nodes.Select(n => n.StopAsync(TimeSpan.FromSeconds(10))));
            foreach (var node in nodes)
            {
                TestContext.Out.WriteLine(node.Output());
                node.Dispose();
            }
            netns.Down(prefix);
        }
    }
}
