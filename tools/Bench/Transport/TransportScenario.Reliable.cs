namespace Multicast.Bench.Transport;

internal sealed partial class TransportScenario
{
    // The reliable channel's half of the run; needs ReliableGroupChannel (branch channel).
    private static Task ReliableAsync(BenchReport report, double rawPerSecond, int size, double rate, TimeSpan duration, CancellationToken cancellationToken)
    {
        report.Notes.Add("reliable channel not measured: ReliableGroupChannel is not on this branch yet");
        return Task.CompletedTask;
    }
}
