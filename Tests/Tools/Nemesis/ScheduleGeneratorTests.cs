using Multicast.Nemesis.Schedules;

namespace Multicast.Tests.Tools.Nemesis;

/// <summary>Schedules are a pure function of their seed: the replay command runs the same schedule.</summary>
public sealed class ScheduleGeneratorTests
{
    [Test]
    public void Generate_SameSeedTwice_IdenticalSchedules([Values] StoreKind store, [Values] FaultFamily family)
    {
        var first = ScheduleGenerator.Generate(4242, store, family);
        var second = ScheduleGenerator.Generate(4242, store, family);

        Assert.That(second.ToString(), Is.EqualTo(first.ToString()));
        Assert.That(second.Clients.SelectMany(c => c), Is.EqualTo(first.Clients.SelectMany(c => c)));
        Assert.That(second.HubSeed, Is.EqualTo(first.HubSeed));
        Assert.That(second.Timings, Is.EqualTo(first.Timings));
    }

    [Test]
    public void Generate_DifferentSeeds_DifferentSchedules()
    {
        var texts = Enumerable.Range(0, 20).Select(seed => ScheduleGenerator.Generate(seed, StoreKind.Ring, FaultFamily.Mixed).ToString()).ToHashSet();

        Assert.That(texts, Has.Count.EqualTo(20));
    }

    [TestCase(FaultFamily.Partition, new[] { FaultKind.Partition, FaultKind.OneWay })]
    [TestCase(FaultFamily.Pause, new[] { FaultKind.Pause })]
    [TestCase(FaultFamily.Slow, new[] { FaultKind.SlowDeliveries, FaultKind.SlowHandler })]
    [TestCase(FaultFamily.Network, new[] { FaultKind.Lossy })]
    [TestCase(FaultFamily.Crash, new[] { FaultKind.Crash, FaultKind.CrashWipe, FaultKind.GracefulRestart })]
    [TestCase(FaultFamily.Skew, new[] { FaultKind.ClockSkew, FaultKind.Pause })]
    public void Generate_Family_DrawsOnlyItsFaultsAndEveryOneOfThem(FaultFamily family, FaultKind[] kinds)
    {
        var drawn = Enumerable.Range(0, 200).SelectMany(seed => ScheduleGenerator.Generate(seed, StoreKind.Ring, family).Faults).ToList();

        Assert.That(drawn.Select(f => f.Kind).Distinct(), Is.EquivalentTo(kinds));
    }

    [Test]
    public void Generate_Pause_MostlyOutlastsTheSuspectTimeout()
    {
        var pauses = Enumerable.Range(0, 200).SelectMany(seed => ScheduleGenerator.Generate(seed, StoreKind.Replicated, FaultFamily.Pause).Faults).ToList();
        var timings = new NemesisTimings();

        Assert.That(pauses.Count(p => p.Duration > timings.Suspect), Is.GreaterThan(pauses.Count / 2));
        Assert.That(pauses.Any(p => p.Duration < timings.Suspect), Is.True, "a short pause too, which must not evict");
    }

    [Test]
    public void Generate_ReplicatedCrash_NeverDrawsAWipe()
    {
        var kinds = Enumerable.Range(0, 200).SelectMany(seed => ScheduleGenerator.Generate(seed, StoreKind.Replicated, FaultFamily.Crash).Faults).Select(f => f.Kind);

        Assert.That(kinds, Has.None.EqualTo(FaultKind.CrashWipe), "the replicated store keeps no disk copy to wipe");
    }

    [Test]
    public void Generate_Partitions_CoverMinorityMajorityAndEvenSplits()
    {
        var splits = Enumerable.Range(0, 300).Select(seed => ScheduleGenerator.Generate(seed, StoreKind.Ring, FaultFamily.Partition))
            .SelectMany(s => s.Faults.Where(f => f.Kind == FaultKind.Partition).Select(f => (s.Nodes, Side: f.Nodes.Count)))
            .ToList();

        Assert.That(splits.Any(s => s.Side * 2 < s.Nodes), Is.True, "a minority cut off");
        Assert.That(splits.Any(s => s.Side * 2 > s.Nodes), Is.True, "a majority cut off");
        Assert.That(splits.Any(s => s.Side * 2 == s.Nodes), Is.True, "no side with a majority");
    }

    [Test]
    public void ReplayCommand_NamesSeedStoreAndFamily()
    {
        var sut = ScheduleGenerator.Generate(77, StoreKind.Ring, FaultFamily.Skew);

        Assert.That(sut.ReplayCommand, Does.Contain("--seed 77").And.Contain("--store Ring").And.Contain("--family Skew").And.Contain("--schedules 1"));
        Assert.That(sut.ToString(), Does.StartWith("schedule seed 77: Ring store"));
    }
}
