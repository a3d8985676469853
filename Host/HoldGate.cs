namespace Multicast.Host;

/// <summary>Requests parked by the test endpoint <c>/test/hold</c> until released.</summary>
internal sealed class HoldGate
{
    private readonly Lock _gate = new();
    private TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _holding;

    public int Holding => Volatile.Read(ref _holding);

    public async Task HoldAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        Task release;
        lock (_gate)
        {
            release = _release.Task;
            _holding++;
        }
        try
        {
            await release.WaitAsync(limit, cancellationToken);
        }
        catch (TimeoutException)
        {
            // Held for the whole limit: the test that asked for it has gone; let the request finish.
        }
        finally
        {
            lock (_gate)
                _holding--;
        }
    }

    public int ReleaseAll()
    {
        lock (_gate)
        {
            var released = _holding;
            _release.TrySetResult();
            _release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return released;
        }
    }
}
