namespace Multicast.Messaging.Internal;

/// <summary>A <see cref="IGroupChannel.WaitForAcksAsync"/> call not yet satisfied.</summary>
internal sealed class AckWaiter(long sequence, int members)
{
    public long Sequence { get; } = sequence;
    public int Members { get; } = members;
    public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public CancellationTokenRegistration Registration { get; set; }
}
