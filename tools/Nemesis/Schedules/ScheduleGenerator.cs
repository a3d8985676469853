using Multicast.Stores;

namespace Multicast.Nemesis.Schedules;

/// <summary>Draws a <see cref="Schedule"/> from a seed: a pure function of (seed, store, family, timings).</summary>
internal static class ScheduleGenerator
{
    /// <summary>How many steps each client plans (paced evenly over the load).</summary>
    public const int StepsPerClient = 60;

    /// <param name="seed">Draws everything else.</param>
    /// <param name="store">The store under test.</param>
    /// <param name="family">Which faults to draw from.</param>
    /// <param name="timings">The channel and store timings; the defaults when null.</param>
    /// <param name="locking">The locking mode; drawn (Pessimistic mostly, <c>None</c> one time in five) when null.</param>
    public static Schedule Generate(int seed, StoreKind store, FaultFamily family, NemesisTimings? timings = null, LockingMode? locking = null)
    {
        var random = new Random(seed);
        var t = timings ?? new NemesisTimings();
        var nodes = family == FaultFamily.Partition
            ? Pick(random, 3, 3, 4, 5)
            : Pick(random, 3, 3, 3, 3, 5);
        var drawn = family != FaultFamily.Skew && random.NextDouble() < 0.2 ? LockingMode.None : LockingMode.Pessimistic;
        var mode = locking ?? drawn;
        var skew = new TimeSpan[nodes];
        if (family == FaultFamily.Skew || (family == FaultFamily.Mixed && random.NextDouble() < 0.3))
        {
            for (var i = 0; i < nodes; i++)
                skew[i] = TimeSpan.FromMilliseconds(random.Next(-600, 601));
            t = t with { LockLease = TimeSpan.FromMilliseconds(random.Next(400, 801)) };
        }

        var faults = new List<Fault>();
        var count = family switch
        {
            FaultFamily.None => 0,
            FaultFamily.Mixed => random.Next(2, 5),
            _ => random.Next(1, 3),
        };
        for (var i = 0; i < count; i++)
        {
            var kind = family == FaultFamily.Mixed ? PickKind(random, store, AllFamilies[random.Next(AllFamilies.Length)]) : PickKind(random, store, family);
            faults.Add(Draw(random, kind, nodes, t));
        }
        if (family == FaultFamily.Skew && random.NextDouble() < 0.5)
            faults.Add(Draw(random, FaultKind.Pause, nodes, t)); // a holder frozen while its lease runs out
        faults.Sort((a, b) => a.At.CompareTo(b.At));
        WithinTheWriteConcern(faults, store, t);

        var clients = random.Next(3, 6);
        var slots = random.Next(2, 5);
        var plans = new List<IReadOnlyList<PlannedOp>>();
        for (var c = 0; c < clients; c++)
        {
            var plan = new PlannedOp[StepsPerClient];
            for (var s = 0; s < plan.Length; s++)
                plan[s] = new PlannedOp(PickOp(random, mode), random.Next(slots), random.Next(nodes));
            plans.Add(plan);
        }

        return new Schedule
        {
            Seed = seed,
            Store = store,
            Family = family,
            Nodes = nodes,
            Locking = mode,
            LockingForced = locking is not null,
            Slots = slots,
            InitialSkew = skew,
            Faults = faults,
            Clients = plans,
            HubSeed = random.Next(),
            Timings = t,
        };
    }

    /// <summary>
    /// The nemesis runs with one acknowledgement (one backup on the ring), so the contract covers one node losing its
    /// memory at a time: a second one before the first is back and caught up may take the only copies of an update with
    /// them, and the store then waits for a member that remembers (docs/stores.md, N16) rather than serving without it.
    /// Such a second loss becomes the same fault with the memory kept: a crash with the disk on the ring (the N16
    /// case), a graceful restart on the replicated store. Nothing else of the schedule changes.
    /// </summary>
    private static void WithinTheWriteConcern(List<Fault> faults, StoreKind store, NemesisTimings t)
    {
        var busyUntil = TimeSpan.MinValue;
        for (var i = 0; i < faults.Count; i++)
        {
            var f = faults[i];
            var forgets = f.Kind == FaultKind.CrashWipe || (store == StoreKind.Replicated && f.Kind == FaultKind.Crash);
            if (!forgets)
                continue;
            if (f.At < busyUntil)
            {
                faults[i] = f with { Kind = store == StoreKind.Ring ? FaultKind.Crash : FaultKind.GracefulRestart };
                continue;
            }
            // Down for its duration, then noticed, restarted and caught up: a generous bound.
            busyUntil = f.Until + t.Suspect * 2 + TimeSpan.FromSeconds(1);
        }
    }

    private static readonly FaultFamily[] AllFamilies =
        [FaultFamily.Partition, FaultFamily.Pause, FaultFamily.Slow, FaultFamily.Network, FaultFamily.Crash, FaultFamily.Skew];

    private static FaultKind PickKind(Random random, StoreKind store, FaultFamily family) => family switch
    {
        FaultFamily.Partition => random.NextDouble() < 0.6 ? FaultKind.Partition : FaultKind.OneWay,
        FaultFamily.Pause => FaultKind.Pause,
        FaultFamily.Slow => random.NextDouble() < 0.5 ? FaultKind.SlowDeliveries : FaultKind.SlowHandler,
        FaultFamily.Network => FaultKind.Lossy,
        // The replicated store keeps no disk copy: a crash always restarts empty.
        FaultFamily.Crash => store == StoreKind.Ring ? Pick(random, FaultKind.Crash, FaultKind.CrashWipe, FaultKind.GracefulRestart)
            : Pick(random, FaultKind.Crash, FaultKind.GracefulRestart),
        FaultFamily.Skew => FaultKind.ClockSkew,
        _ => throw new ArgumentOutOfRangeException(nameof(family), family, "no single fault kind"),
    };

    private static Fault Draw(Random random, FaultKind kind, int nodes, NemesisTimings t)
    {
        var loadMs = (int)t.Load.TotalMilliseconds;
        var at = TimeSpan.FromMilliseconds(random.Next(150, Math.Max(151, loadMs - 300)));
        TimeSpan For(int fromMs, int toMs) => TimeSpan.FromMilliseconds(random.Next(fromMs, toMs + 1));
        var node = random.Next(nodes);
        var suspectMs = (int)t.Suspect.TotalMilliseconds;
        switch (kind)
        {
            case FaultKind.Partition:
            {
                // A side of 1 .. n-1 nodes: with 3 or 5 nodes one side holds a majority; with 4 a 2|2 split leaves none.
                var side = Shuffle(random, nodes).Take(random.Next(1, nodes)).Order().ToArray();
                return new Fault(kind, at, For(suspectMs / 2, suspectMs * 2 + 200), side);
            }
            case FaultKind.OneWay:
            {
                var deaf = Shuffle(random, nodes).Where(i => i != node).Take(random.Next(1, nodes)).Order();
                int[] targets = random.NextDouble() < 0.5 ? [node] : [node, .. deaf];
                return new Fault(kind, at, For(suspectMs / 2, suspectMs * 2 + 200), targets);
            }
            case FaultKind.Pause:
                // Mostly past the suspect timeout (the node is evicted while alive); sometimes just short of it.
                return new Fault(kind, at, random.NextDouble() < 0.8 ? For(suspectMs * 6 / 5, suspectMs * 5 / 2) : For(suspectMs / 3, suspectMs * 3 / 4), [node]);
            case FaultKind.SlowDeliveries:
                return new Fault(kind, at, For(400, 1200), [node], Amount: For(20, 150));
            case FaultKind.SlowHandler:
                return new Fault(kind, at, For(400, 1200), [node], Amount: For(1, 4));
            case FaultKind.Lossy:
                return new Fault(kind, at, For(400, 1300), [], Probability: Math.Round(0.05 + random.NextDouble() * 0.25, 2));
            case FaultKind.Crash:
            case FaultKind.CrashWipe:
            case FaultKind.GracefulRestart:
                return new Fault(kind, at, For(150, 800), [node]);
            case FaultKind.ClockSkew:
            {
                var jump = For(300, 1500);
                return new Fault(kind, at, For(300, 1000), [node], Amount: random.NextDouble() < 0.5 ? jump : -jump);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    private static OpKind PickOp(Random random, LockingMode locking)
    {
        var r = random.Next(100);
        if (locking == LockingMode.None)
            return r switch { < 60 => OpKind.Write, < 90 => OpKind.Read, < 93 => OpKind.Invalidate, _ => OpKind.Create };
        return r switch { < 55 => OpKind.Increment, < 85 => OpKind.Read, < 89 => OpKind.Oversize, < 92 => OpKind.Invalidate, _ => OpKind.Create };
    }

    private static IEnumerable<int> Shuffle(Random random, int n)
    {
        var order = Enumerable.Range(0, n).ToArray();
        random.Shuffle(order);
        return order;
    }

    private static T Pick<T>(Random random, params T[] choices) => choices[random.Next(choices.Length)];
}
