using System.Globalization;
using Multicast.Nemesis.Schedules;

namespace Multicast.Nemesis.Running;

/// <summary>Command-line options; see <see cref="Usage"/>.</summary>
internal sealed class NemesisOptions
{
    public const string Usage = """
        usage: Nemesis [--schedules N] [--seed N] [--store Replicated|Ring|Both] [--family F|All] [--parallel P]
                       [--locking Pessimistic|None] [--repeat N] [--verbose] [--out FILE] [--max-failures N]
          Runs N randomized fault schedules (default 100) over the in-memory hub and checks each history: schedule i
          uses seed N+i (default seed 1). --store and --family choose what the schedules draw (default Both and All:
          they take turns). --repeat N runs each schedule N times in a row (a failure that depends on timing shows in
          some replays, not all). --locking fixes the locking mode (drawn otherwise: None one time in five). Families: None, Partition, Pause, Slow, Network, Crash, Skew, Mixed. --parallel P runs P
          schedules at once (default 2; each has its own hub). A failing schedule prints its seed, the schedule, the
          offending history lines and the command that replays it; --verbose prints every schedule with its whole
          history. --out FILE also writes the failure reports to FILE. --max-failures N stops after N failing schedules.
          Exit code: 0 every schedule passed, 1 a violation, 2 usage error.
        """;

    public int Schedules { get; set; } = 100;
    public int Seed { get; set; } = 1;
    public List<StoreKind> Stores { get; } = [StoreKind.Replicated, StoreKind.Ring];
    public List<FaultFamily> Families { get; } = [.. Enum.GetValues<FaultFamily>()];
    public int Parallel { get; set; } = 2;
    public bool Verbose { get; set; }
    public string? Out { get; set; }
    public int MaxFailures { get; set; } = int.MaxValue;
    public Stores.LockingMode? Locking { get; set; }
    public int Repeat { get; set; } = 1;

    /// <summary>The seed, store and family of run <paramref name="i"/> (of <see cref="Schedules"/> x <see cref="Repeat"/>):
    /// repeats of one schedule are next to each other; then stores alternate, then families.</summary>
    public (int Seed, StoreKind Store, FaultFamily Family) Pick(int i)
    {
        var schedule = i / Repeat;
        return (Seed + schedule, Stores[schedule % Stores.Count], Families[schedule / Stores.Count % Families.Count]);
    }

    /// <summary>How many runs: every schedule, each repeated.</summary>
    public int Runs => Schedules * Repeat;

    public static NemesisOptions Parse(string[] args)
    {
        var o = new NemesisOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int() => int.Parse(Next(), NumberStyles.Integer, CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--schedules": o.Schedules = Int(); break;
                case "--seed": o.Seed = Int(); break;
                case "--store":
                {
                    var value = Next();
                    o.Stores.Clear();
                    if (value.Equals("Both", StringComparison.OrdinalIgnoreCase))
                        o.Stores.AddRange([StoreKind.Replicated, StoreKind.Ring]);
                    else
                        o.Stores.Add(Enum.TryParse<StoreKind>(value, ignoreCase: true, out var store) ? store : throw new ArgumentException($"--store {value}: Replicated, Ring or Both"));
                    break;
                }
                case "--family":
                {
                    var value = Next();
                    o.Families.Clear();
                    foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    {
                        if (part.Equals("All", StringComparison.OrdinalIgnoreCase))
                            o.Families.AddRange(Enum.GetValues<FaultFamily>());
                        else
                            o.Families.Add(Enum.TryParse<FaultFamily>(part, ignoreCase: true, out var family) ? family
                                : throw new ArgumentException($"--family {part}: one of {string.Join(", ", Enum.GetNames<FaultFamily>())} or All"));
                    }
                    break;
                }
                case "--parallel": o.Parallel = Int(); break;
                case "--repeat": o.Repeat = Int(); break;
                case "--locking":
                {
                    var value = Next();
                    o.Locking = Enum.TryParse<Stores.LockingMode>(value, ignoreCase: true, out var mode) && Enum.IsDefined(mode) ? mode
                        : throw new ArgumentException($"--locking {value}: Pessimistic or None");
                    break;
                }
                case "--verbose": o.Verbose = true; break;
                case "--out": o.Out = Next(); break;
                case "--max-failures": o.MaxFailures = Int(); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        if (o.Repeat < 1)
            throw new ArgumentException("--repeat must be positive");
        if (o.Schedules < 1 || o.Parallel < 1 || o.MaxFailures < 1 || o.Families.Count == 0)
            throw new ArgumentException("--schedules, --parallel and --max-failures must be positive, and --family must name a family");
        return o;
    }
}
