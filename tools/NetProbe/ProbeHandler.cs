using System.Diagnostics;
using System.Globalization;
using Multicast.Messaging;

namespace Multicast.NetProbe;

/// <summary>Checks, on the receive thread, that the sender's messages arrive once each, in order and intact.</summary>
internal sealed class ProbeHandler(ProbeArguments options) : GroupHandler
{
    private readonly TaskCompletionSource _members = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string?> _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long[] _latencies = new long[options.Messages];
    private long _received;
    private long _lastSequence = long.MinValue;
    private long _firstAt;
    private long _lastAt;

    public long Received => Interlocked.Read(ref _received);

    /// <summary>Null when every message arrived correctly, else the first thing that went wrong.</summary>
    public Task<string?> Finished => _finished.Task;

    public Task WaitForMembersAsync(CancellationToken cancellationToken) => _members.Task.WaitAsync(cancellationToken);

    public override void OnViewChanged(MembershipView view)
    {
        if (options.Role == "member")
            Output.Line(string.Create(CultureInfo.InvariantCulture, $"VIEW {view.Members.Count} {view}"));
        if (view.Members.Count >= options.Members)
            _members.TrySetResult();
    }

    public override void OnExcluded(MembershipView lastView)
    {
        if (options.Role == "member")
            Output.Line($"EXCLUDED {lastView}");
    }

    public override void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast)
    {
        if (_finished.Task.IsCompleted)
            return;
        var expected = Interlocked.Read(ref _received);
        var problem = unicast ? "unexpected unicast message"
            : sequence <= _lastSequence ? $"sequence {sequence} after {_lastSequence}"
            : ProbeMessages.Check(payload, expected, options.SizeOf(expected));
        if (problem is not null)
        {
            _finished.TrySetResult($"{problem} (from {sender})");
            return;
        }
        _lastSequence = sequence;
        _latencies[expected] = ProbeMessages.AgeOf(payload);
        _lastAt = Stopwatch.GetTimestamp();
        if (expected == 0)
            _firstAt = _lastAt;
        if (Interlocked.Increment(ref _received) == options.Messages)
            _finished.TrySetResult(null);
    }

    /// <summary>Delivery rate and publish → delivered latency of what arrived, for the RESULT line (after <see cref="Finished"/>).</summary>
    public string Figures()
    {
        var count = (int)Math.Min(Received, _latencies.Length);
        var sorted = _latencies.AsSpan(0, count).ToArray();
        Array.Sort(sorted);
        var elapsed = Stopwatch.GetElapsedTime(_firstAt, _lastAt).TotalSeconds;
        return string.Create(CultureInfo.InvariantCulture,
            $"messages_per_s={(count > 1 && elapsed > 0 ? (count - 1) / elapsed : 0):F0} latency_p50_ms={Percentile(sorted, 50):F3} latency_p99_ms={Percentile(sorted, 99):F3} latency_p99_9_ms={Percentile(sorted, 99.9):F3} latency_max_ms={Percentile(sorted, 100):F3}");
    }

    private static double Percentile(long[] sorted, double percentile) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(percentile / 100 * sorted.Length) - 1, 0, sorted.Length - 1)] * 1000.0 / Stopwatch.Frequency;
}
