using System.Diagnostics;
using Multicast.Bench.Codec.Legacy;
using Multicast.Sessions;
using Multicast.Wire;
using Current = Multicast.Wire;

namespace Multicast.Bench.Codec;

/// <summary>
/// The store codec, before and after protobuf-net, in one run: each message (a commit with a 1 KiB delta, a lock
/// request, a state-transfer chunk) is encoded and decoded (with the decode limits checked) by today's
/// <see cref="StoreCodec"/> and by the old Google.Protobuf codec (<see cref="LegacyStoreCodec"/>), in alternated
/// rounds on one thread: ns and bytes allocated per operation, and the ratios new/old.
/// </summary>
internal sealed class CodecScenario : IBenchScenario
{
    public string Name => "codec";

    public string Description => "store messages encoded+decoded by the protobuf-net codec vs the old Google.Protobuf one: ns and bytes allocated per op [--iterations N --rounds R --warmup-ms M --delta-bytes B --chunk-sessions S]";

    public Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var iterations = arguments.GetInt("iterations", 20_000);
        var rounds = arguments.GetInt("rounds", 7);
        var deltaBytes = arguments.GetInt("delta-bytes", 1024);
        var chunkSessions = arguments.GetInt("chunk-sessions", 64);
        var warmupMs = arguments.GetInt("warmup-ms", 2000);
        var report = new BenchReport();
        report.Notes.Add($"per message: {warmupMs} ms of warm-up (both codecs, alternated), then {rounds} alternated rounds (new, old, new, ...) of {iterations} encodes then as many decodes (fewer for larger messages, scaled by encoded size); figures are the medians over rounds; ns from Stopwatch, bytes from GC.GetAllocatedBytesForCurrentThread; one thread.");
        report.Notes.Add("new = Multicast.Wire.StoreCodec (protobuf-net code-first, StoreMessages.cs); old = the Google.Protobuf codec generated from the former store.proto (tools/Bench/Codec/Legacy). Decode includes each codec's limit checks; building the message from a session is not measured.");
        report.Notes.Add($"commit = a CommitRequest (old: Commit) whose delta sets 4 attributes of {deltaBytes} bytes in all and removes one key; state chunk = a Replicate of {chunkSessions} whole copies (old: a StateChunk of full updates) of {deltaBytes} bytes each.");

        foreach (var message in CodecMessages.Create(deltaBytes, chunkSessions))
        {
            cancellationToken.ThrowIfCancellationRequested();
            RoundTrip(message);
            var currentRounds = new List<CodecCost>();
            var legacyRounds = new List<CodecCost>();
            var current = Codecs(message.Current);
            var legacy = Codecs(message.Legacy);
            var n = Math.Max(20, (int)(iterations * 2048L / Math.Max(2048, StoreCodec.Encode(message.Current).Length)));
            // Warm-up, by time: the JIT's tiers (tier 0, instrumented, optimised with the profile) take some hundreds of ms
            // to settle, and a round measured before that would count unoptimised code.
            var warming = Stopwatch.StartNew();
            while (warming.ElapsedMilliseconds < warmupMs)
            {
                cancellationToken.ThrowIfCancellationRequested();
                CodecCost.Measure(current.Encode, current.Decode, Math.Max(1, n / 10));
                CodecCost.Measure(legacy.Encode, legacy.Decode, Math.Max(1, n / 10));
            }
            for (var round = 0; round < rounds; round++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                currentRounds.Add(CodecCost.Measure(current.Encode, current.Decode, n));
                legacyRounds.Add(CodecCost.Measure(legacy.Encode, legacy.Decode, n));
            }
            var newCost = CodecCost.Median(currentRounds);
            var oldCost = CodecCost.Median(legacyRounds);
            Add(report, $"{message.Name} new (protobuf-net)", newCost, n);
            Add(report, $"{message.Name} old (Google.Protobuf)", oldCost, n);
            report.Ratios[$"{message.Name}_ns_new_vs_old"] = newCost.RoundTripNs / oldCost.RoundTripNs;
            report.Ratios[$"{message.Name}_bytes_new_vs_old"] = newCost.RoundTripAllocated / oldCost.RoundTripAllocated;
            report.Ratios[$"{message.Name}_wire_bytes_new_vs_old"] = (double)newCost.WireBytes / oldCost.WireBytes;
        }
        return Task.FromResult(report);
    }

    /// <summary>
    /// Encodes and decodes <paramref name="message"/> with both codecs; throws unless each decoded message carries what was
    /// encoded and both carry the same content.
    /// </summary>
    public static (Current.Envelope Current, Legacy.Envelope Legacy) RoundTrip(CodecMessage message)
    {
        if (!StoreCodec.TryDecode(StoreCodec.Encode(message.Current), SessionOptions.DefaultMaxSessionBytes, out var current))
            throw new InvalidOperationException($"{message.Name}: the protobuf-net codec refused its own encoding");
        if (!LegacyStoreCodec.TryDecode(LegacyStoreCodec.Encode(message.Legacy), SessionOptions.DefaultMaxSessionBytes, out var legacy))
            throw new InvalidOperationException($"{message.Name}: the Google.Protobuf codec refused its own encoding");
        var expected = CodecMessages.Describe(message.Current);
        if (CodecMessages.Describe(current) != expected || CodecMessages.Describe(legacy) != expected || CodecMessages.Describe(message.Legacy) != expected)
            throw new InvalidOperationException($"{message.Name}: a round trip changed the message, or the two codecs do not carry the same content");
        return (current, legacy);
    }

    private static (Func<byte[]> Encode, Func<byte[], bool> Decode) Codecs(Current.Envelope message) =>
        (() => StoreCodec.Encode(message), payload => StoreCodec.TryDecode(payload, SessionOptions.DefaultMaxSessionBytes, out _));

    private static (Func<byte[]> Encode, Func<byte[], bool> Decode) Codecs(Legacy.Envelope message) =>
        (() => LegacyStoreCodec.Encode(message), payload => LegacyStoreCodec.TryDecode(payload, SessionOptions.DefaultMaxSessionBytes, out _));

    private static void Add(BenchReport report, string name, CodecCost cost, int iterations) => report.Add(name)
        .Set("encode_ns", cost.EncodeNs)
        .Set("decode_ns", cost.DecodeNs)
        .Set("round_trip_ns", cost.RoundTripNs)
        .Set("encode_bytes_allocated", cost.EncodeAllocated)
        .Set("decode_bytes_allocated", cost.DecodeAllocated)
        .Set("round_trip_bytes_allocated", cost.RoundTripAllocated)
        .Set("wire_bytes", cost.WireBytes)
        .Set("iterations_per_round", iterations);
}
