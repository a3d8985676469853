namespace Multicast.Messaging.Internal;

/// <summary>A message that has its sequence number but waits for room in the send window.</summary>
internal sealed class PendingSend(SendStream stream, byte[] message, long sequence, long deadline)
{
    public SendStream Stream { get; } = stream;
    public byte[] Message { get; } = message;
    public long Sequence { get; } = sequence;
    public long Deadline { get; } = deadline;
    public TaskCompletionSource<long> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public CancellationTokenRegistration Registration { get; set; }
}
