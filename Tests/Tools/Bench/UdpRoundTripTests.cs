using Multicast.Bench;
using Multicast.Bench.RoundTrip;

namespace Multicast.Tests.Tools.Bench;

/// <summary>The unit of the benchmarks: the raw loopback UDP round trip.</summary>
[Category("Integration")]
public sealed class UdpRoundTripTests
{
    [Test]
    public async Task MeasureAsync_Loopback_EveryDatagramComesBack()
    {
        var report = new BenchReport();

        var unit = await UdpRoundTrip.MeasureAsync(report, TimeSpan.FromMilliseconds(200), CancellationToken.None);

        Assert.That(unit, Is.GreaterThan(0));
        Assert.That(report.Results.Select(r => r.Name), Is.EqualTo(new[] { "udp_round_trip_1kib", "udp_round_trip_1kib_async" }));
        foreach (var result in report.Results)
        {
            Assert.That(result.Figures["samples"], Is.GreaterThan(0), result.Name);
            Assert.That(result.Figures["lost"], Is.Zero, result.Name);
        }
    }
}
