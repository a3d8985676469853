using System.Reflection;
using Multicast.Bench;
using Multicast.Bench.Codec;

namespace Multicast.Tests.Tools.Bench;

/// <summary>The codec benchmark: both codecs carry the same messages, and the old one stays in tools/Bench.</summary>
public sealed class CodecScenarioTests
{
    [Test]
    public void RoundTrip_EveryMessage_BothCodecsCarryTheSameContent()
    {
        foreach (var message in CodecMessages.Create(deltaBytes: 1024, chunkSessions: 4))
        {
            var (current, legacy) = CodecScenario.RoundTrip(message);

            var expected = CodecMessages.Describe(message.Current);
            Assert.That(expected, Is.Not.Empty, message.Name);
            Assert.That(CodecMessages.Describe(current), Is.EqualTo(expected), message.Name);
            Assert.That(CodecMessages.Describe(legacy), Is.EqualTo(expected), message.Name);
        }
    }

    [Test]
    public void Commit_OfOneKibibyte_SetsThatManyValueBytes()
    {
        var sut = CodecMessages.Commit(1024);

        Assert.That(sut.Current.CommitRequest!.Delta.Set.Sum(a => a.Value.Length), Is.EqualTo(1024));
        Assert.That(sut.Legacy.Commit.Update.Set.Sum(a => a.Value.Length), Is.EqualTo(1024));
    }

    [Test]
    public async Task RunAsync_BriefRun_ReportsBothCodecsAndTheirRatiosForEveryMessage()
    {
        var sut = new CodecScenario();

        var report = await sut.RunAsync(BenchArguments.Parse(["--iterations", "20", "--rounds", "1", "--warmup-ms", "0", "--chunk-sessions", "2"]), CancellationToken.None);

        foreach (var message in new[] { "commit_1kib", "lock_request", "state_chunk_2x1kib" })
        {
            foreach (var codec in new[] { "new (protobuf-net)", "old (Google.Protobuf)" })
            {
                var result = report.Results.SingleOrDefault(r => r.Name == $"{message} {codec}");
                Assert.That(result, Is.Not.Null, $"{message} {codec}");
                Assert.That(result!.Figures["wire_bytes"], Is.GreaterThan(0), $"{message} {codec}");
                Assert.That(result.Figures.Keys, Does.Contain("round_trip_ns").And.Contain("round_trip_bytes_allocated"));
            }
            Assert.That(report.Ratios.Keys, Does.Contain($"{message}_ns_new_vs_old").And.Contain($"{message}_bytes_new_vs_old"));
        }
    }

    [TestCase("Multicast.Core")]
    [TestCase("Multicast.Transports")]
    [TestCase("Multicast.AspNetCore")]
    public void ShippedAssembly_DoesNotReferenceTheOldCodec(string assembly)
    {
        var sut = Assembly.Load(assembly).GetReferencedAssemblies().Select(a => a.Name);

        Assert.That(sut, Does.Not.Contain("Google.Protobuf"));
    }
}
