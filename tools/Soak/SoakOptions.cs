using System.Globalization;

namespace Multicast.Soak;

/// <summary>Command-line options; see <see cref="Usage"/>.</summary>
internal sealed class SoakOptions
{
    public const string Usage = """
        usage: Soak [--store Ring|Replicated] [--minutes M] [--fault-every SECONDS] [--clients N] [--reads PERCENT]
                    [--sample SECONDS] [--out FILE]
          Starts three node hosts, each in a network namespace of its own (tools/netns/up.sh, reached over
          tools/netns/uplink.sh), runs tools/LoadCheck against them for M minutes (default 10: N clients, default 8,
          non-sticky, PERCENT reads, default 50, --strict: a 503 counts as not applied) and injects a fault every
          SECONDS (default 60), in turn: SIGKILL and restart, SIGSTOP for twice the suspect timeout, graceful restart
          (SIGTERM), a partition (the node's UDP cut with iptables for 10 s); the target node rotates. Every SECONDS
          of --sample (default 10) it reads each node's managed heap (the runtime's gc-heap-size counter, over its
          diagnostics socket) and RSS (/proc). At the end it writes the verdict, the faults and the memory over time as
          a section of FILE (default docs/soak.md; the section of the same store is replaced) and prints it.
          Needs root, ip (iproute2) and iptables. Exit code: 0 LoadCheck passed, 1 it found a violation, 2 setup error.
        """;

    public string Store { get; set; } = "Ring";
    public TimeSpan Duration { get; set; } = TimeSpan.FromMinutes(10);
    public TimeSpan FaultEvery { get; set; } = TimeSpan.FromSeconds(60);
    public int Clients { get; set; } = 8;
    public double Reads { get; set; } = 50;
    public TimeSpan Sample { get; set; } = TimeSpan.FromSeconds(10);
    public string Out { get; set; } = Path.Combine("docs", "soak.md");

    /// <summary>The arguments as given, for the report's command line.</summary>
    public string CommandLine { get; private set; } = string.Empty;

    public static SoakOptions Parse(string[] args)
    {
        var o = new SoakOptions { CommandLine = string.Join(' ', args) };
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            double Number() => double.Parse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--store":
                    o.Store = Next() switch
                    {
                        var s when s.Equals("Ring", StringComparison.OrdinalIgnoreCase) => "Ring",
                        var s when s.Equals("Replicated", StringComparison.OrdinalIgnoreCase) => "Replicated",
                        var s => throw new ArgumentException($"--store {s}: Ring or Replicated"),
                    };
                    break;
                case "--minutes": o.Duration = TimeSpan.FromMinutes(Number()); break;
                case "--fault-every": o.FaultEvery = TimeSpan.FromSeconds(Number()); break;
                case "--clients": o.Clients = (int)Number(); break;
                case "--reads": o.Reads = Number(); break;
                case "--sample": o.Sample = TimeSpan.FromSeconds(Number()); break;
                case "--out": o.Out = Next(); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        if (o.Duration <= TimeSpan.Zero || o.FaultEvery <= TimeSpan.FromSeconds(20) || o.Clients < 1 || o.Sample <= TimeSpan.Zero)
            throw new ArgumentException("--minutes, --clients and --sample must be positive, --fault-every above 20 s (a fault and its recovery)");
        if (o.Reads is < 0 or > 100)
            throw new ArgumentException("--reads must be between 0 and 100");
        return o;
    }
}
