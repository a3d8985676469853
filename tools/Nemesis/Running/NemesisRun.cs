using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Multicast.Nemesis.Checking;
using Multicast.Nemesis.Schedules;

namespace Multicast.Nemesis.Running;

/// <summary>The console command: many schedules, progress while they run, a summary at the end.</summary>
internal sealed class NemesisRun(TextWriter output, TextWriter error)
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(5);
    private readonly object _writeLock = new();

    public static Task<int> MainAsync(string[] args, TextWriter? output = null, TextWriter? error = null) =>
        new NemesisRun(output ?? Console.Out, error ?? Console.Error).RunAsync(args);

    private async Task<int> RunAsync(string[] args)
    {
        NemesisOptions options;
        try
        {
            options = NemesisOptions.Parse(args);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or OverflowException)
        {
            error.WriteLine($"Nemesis: {ex.Message}");
            error.WriteLine(NemesisOptions.Usage);
            return 2;
        }

        output.WriteLine($"Nemesis: {options.Schedules} schedules{(options.Repeat > 1 ? $" x {options.Repeat}" : string.Empty)} from seed {options.Seed}, stores {string.Join("/", options.Stores)}, "
            + $"families {string.Join("/", options.Families)}, {options.Parallel} at a time");
        var clock = Stopwatch.StartNew();
        var failures = new ConcurrentQueue<ScheduleResult>();
        var kinds = new ConcurrentDictionary<ViolationKind, int>();
        var byFamily = new ConcurrentDictionary<(StoreKind, FaultFamily), (int Runs, int Failed)>();
        var done = 0;
        var next = -1;
        using var stop = new CancellationTokenSource();
        using var report = options.Out is null ? null : new StreamWriter(options.Out, append: false);

        async Task Worker()
        {
            while (!stop.IsCancellationRequested)
            {
                var i = Interlocked.Increment(ref next);
                if (i >= options.Runs)
                    return;
                var (seed, store, family) = options.Pick(i);
                var schedule = ScheduleGenerator.Generate(seed, store, family, locking: options.Locking);
                var result = await ScheduleRunner.RunAsync(schedule, loggers: StderrLoggers.FromEnvironment(i));
                Interlocked.Increment(ref done);
                byFamily.AddOrUpdate((store, family), _ => (1, result.Passed ? 0 : 1), (_, v) => (v.Runs + 1, v.Failed + (result.Passed ? 0 : 1)));
                if (!result.Passed)
                {
                    failures.Enqueue(result);
                    foreach (var kind in result.Violations.Select(v => v.Kind).Distinct())
                        kinds.AddOrUpdate(kind, 1, (_, n) => n + 1);
                    var text = $"run r{i}: " + ScheduleReport.Format(result, options.Verbose);
                    lock (_writeLock)
                    {
                        output.WriteLine(text);
                        report?.WriteLine(text);
                        report?.Flush();
                    }
                    if (failures.Count >= options.MaxFailures)
                        await stop.CancelAsync();
                }
                else if (options.Verbose)
                {
                    lock (_writeLock)
                        output.WriteLine(ScheduleReport.Format(result, fullHistory: true));
                }
            }
        }

        var workers = Enumerable.Range(0, options.Parallel).Select(_ => Task.Run(Worker)).ToList();
        var all = Task.WhenAll(workers);
        while (await Task.WhenAny(all, Task.Delay(ProgressInterval)) != all)
        {
            lock (_writeLock)
                output.WriteLine($"[{clock.Elapsed.TotalSeconds,7:0.0}s] {Volatile.Read(ref done)}/{options.Runs} schedules, {failures.Count} failing");
        }
        await all;

        output.WriteLine();
        output.WriteLine($"Nemesis summary: {done} schedules in {clock.Elapsed.TotalSeconds:0.0} s, {failures.Count} failing");
        foreach (var ((store, family), (runs, failed)) in byFamily.OrderBy(kv => kv.Key.Item1).ThenBy(kv => kv.Key.Item2))
            output.WriteLine($"  {store,-10} {family,-9} {runs,5} run, {failed,5} failing");
        foreach (var (kind, count) in kinds.OrderByDescending(kv => kv.Value))
            output.WriteLine($"  {count,5} schedules with {kind}");
        foreach (var f in failures.OrderBy(f => f.Schedule.Seed).Take(50))
            output.WriteLine($"  seed {f.Schedule.Seed.ToString(CultureInfo.InvariantCulture),-6} {f.Schedule.Store,-10} {f.Schedule.Family,-9} "
                + $"{string.Join(",", f.Violations.Select(v => v.Kind).Distinct())}: {f.Schedule.ReplayCommand}");
        output.WriteLine(failures.IsEmpty ? "PASS: every schedule kept every guarantee" : $"FAIL: {failures.Count} of {done} schedules broke a guarantee");
        return failures.IsEmpty ? 0 : 1;
    }
}
