using Multicast.Messaging;

namespace Multicast.NetProbe;

/// <summary>Checks, on the receive thread, that the sender's messages arrive once each, in order and intact.</summary>
internal sealed class ProbeHandler(ProbeArguments options) : GroupHandler
{
    private readonly TaskCompletionSource _members = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string?> _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _received;
    private long _lastSequence = long.MinValue;

    public long Received => Interlocked.Read(ref _received);

    /// <summary>Null when every message arrived correctly, else the first thing that went wrong.</summary>
    public Task<string?> Finished => _finished.Task;

    public Task WaitForMembersAsync(CancellationToken cancellationToken) => _members.Task.WaitAsync(cancellationToken);

    public override void OnViewChanged(MembershipView view)
    {
        if (view.Members.Count >= options.Members)
            _members.TrySetResult();
    }

    public override void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast)
    {
        if (_finished.Task.IsCompleted)
            return;
        var expected = Interlocked.Read(ref _received);
        var problem = unicast ? "unexpected unicast message"
            : sequence <= _lastSequence ? $"sequence {sequence} after {_lastSequence}"
            : ProbeMessages.Check(payload, expected, ProbeMessages.SizeOf(expected, options.LargeEvery, options.LargeSize));
        if (problem is not null)
        {
            _finished.TrySetResult($"{problem} (from {sender})");
            return;
        }
        _lastSequence = sequence;
        if (Interlocked.Increment(ref _received) == options.Messages)
            _finished.TrySetResult(null);
    }
}
