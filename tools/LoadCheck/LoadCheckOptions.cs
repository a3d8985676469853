using System.Globalization;

namespace Multicast.LoadCheck;

/// <summary>Command-line options; see <see cref="Usage"/>.</summary>
internal sealed class LoadCheckOptions
{
    public const string Usage = """
        usage: LoadCheck [--urls URL,URL,...] [--cluster-dir DIR] [--clients M] [--duration SECONDS]
                         [--kill-node I [--kill-after SECONDS] [--restart-after SECONDS]] [--timeout SECONDS]
                         [--cookie NAME] [--progress SECONDS] [--seed N] [--reads PERCENT] [--json FILE]
                         [--strict] [--fail-on-5xx] [--allow-not-ready] [--max-latency SECONDS]
                         [--sticky] [--check all|none]
          M clients, each with its own session cookie, send POST /counter to random nodes (not sticky) for the
          duration; then every session's counter is read from every live node and checked against the increments
          the client saw acknowledged. Without --urls the URLs come from the cluster started by tools/cluster.sh
          (DIR/urls). --kill-node sends SIGKILL to node I (DIR/nodeI.pid) after --kill-after seconds (default: a
          third of the duration) and restarts it (DIR/nodeI.sh) --restart-after seconds later (default 3).
          --reads P: once a client has its session, P% of its requests are GET /counter (read-only) instead of a POST;
          reads are counted and timed; with --check-reads a read answered below the client's last acknowledged
          increment is a violation (a stale read: the host's default ReadConsistency=Latest promises a client its own
          writes on any node). --json FILE: requests/s and latency percentiles (every answered
          request) with the verdict, for tools/Bench. --sticky: client i sends every request to node ((i - 1) mod N), as a
          load balancer with session affinity would. --check none: skip the final read of every session from every node
          (for a store that does not share sessions between nodes); the answers' sequence is still checked.
          --strict: every 503 and 409 counts as "not applied" (what the store contract promises), so a refused request
          that was applied after all shows up as a phantom update; without it a 503 whose body says the change "could
          not be stored" counts as an unknown outcome. --fail-on-5xx: any 5xx answer (503 included) is a violation;
          with --allow-not-ready, except the host's 503 "This node is not ready" (a node joining or leaving, which a
          balancer's health check drains; the endpoint did not run).
          --max-latency S: any request (answered or not) slower than S seconds is a violation.
          SIGINT (Ctrl+C) ends the load before the duration is up; the final check runs as it would after it.
          Exit code: 0 no lost update, 1 a lost or phantom update or diverging nodes, 2 usage or setup error.
        """;

    public List<Uri> Urls { get; } = [];
    public string ClusterDir { get; set; } = Environment.GetEnvironmentVariable("MULTICAST_CLUSTER_DIR")
        ?? Path.Combine(Environment.GetEnvironmentVariable("TMPDIR") ?? "/tmp", "multicast-cluster");
    public int Clients { get; set; } = 8;
    public TimeSpan Duration { get; set; } = TimeSpan.FromSeconds(20);
    public int? KillNode { get; set; }
    public TimeSpan? KillAfter { get; set; }
    public TimeSpan RestartAfter { get; set; } = TimeSpan.FromSeconds(3);
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
    public TimeSpan Progress { get; set; } = TimeSpan.FromSeconds(2);
    public string Cookie { get; set; } = ".Multicast.Session";
    public int Seed { get; set; } = Environment.TickCount;
    public double Reads { get; set; }
    public string? Json { get; set; }
    public bool Strict { get; set; }
    public bool FailOn5xx { get; set; }
    public bool AllowNotReady { get; set; }
    public TimeSpan? MaxLatency { get; set; }
    public bool Sticky { get; set; }
    public bool FinalCheck { get; set; } = true;
    public bool CheckReads { get; set; }

    public static LoadCheckOptions Parse(string[] args)
    {
        var o = new LoadCheckOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            TimeSpan Seconds() => TimeSpan.FromSeconds(double.Parse(Next(), CultureInfo.InvariantCulture));
            switch (args[i])
            {
                case "--urls":
                    foreach (var u in Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        o.Urls.Add(new Uri(u.TrimEnd('/') + "/"));
                    break;
                case "--cluster-dir": o.ClusterDir = Next(); break;
                case "--clients": o.Clients = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--duration": o.Duration = Seconds(); break;
                case "--kill-node": o.KillNode = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--kill-after": o.KillAfter = Seconds(); break;
                case "--restart-after": o.RestartAfter = Seconds(); break;
                case "--timeout": o.Timeout = Seconds(); break;
                case "--progress": o.Progress = Seconds(); break;
                case "--cookie": o.Cookie = Next(); break;
                case "--seed": o.Seed = int.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--reads": o.Reads = double.Parse(Next(), CultureInfo.InvariantCulture); break;
                case "--json": o.Json = Next(); break;
                case "--strict": o.Strict = true; break;
                case "--fail-on-5xx": o.FailOn5xx = true; break;
                case "--allow-not-ready": o.AllowNotReady = true; break;
                case "--max-latency": o.MaxLatency = Seconds(); break;
                case "--sticky": o.Sticky = true; break;
                case "--check-reads": o.CheckReads = true; break;
                case "--check":
                    o.FinalCheck = Next() switch
                    {
                        "all" => true,
                        "none" => false,
                        var other => throw new ArgumentException($"--check must be all or none, not {other}"),
                    };
                    break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        if (o.Urls.Count == 0)
        {
            var file = Path.Combine(o.ClusterDir, "urls");
            if (!File.Exists(file))
                throw new ArgumentException($"no --urls and no cluster in {o.ClusterDir} (start one: bash tools/cluster.sh start 3)");
            foreach (var line in File.ReadAllLines(file))
            {
                var at = line.IndexOf('=', StringComparison.Ordinal);
                if (at > 0)
                    o.Urls.Add(new Uri(line[(at + 1)..].Trim().TrimEnd('/') + "/"));
            }
        }
        if (o.Clients < 1 || o.Duration <= TimeSpan.Zero || o.Urls.Count == 0)
            throw new ArgumentException("--clients and --duration must be positive and at least one URL given");
        if (o.MaxLatency is { } max && max <= TimeSpan.Zero)
            throw new ArgumentException("--max-latency must be positive");
        if (o.Reads is < 0 or > 100)
            throw new ArgumentException("--reads must be between 0 and 100");
        if (o.KillNode is { } k && (k < 1 || k > o.Urls.Count))
            throw new ArgumentException($"--kill-node must be between 1 and {o.Urls.Count}");
        return o;
    }
}
