namespace Multicast.Tests.PublicStore;

/// <summary>
/// Counts the nodes that applied one change to their session table (as Redis's <c>WAIT numreplicas</c> counts replicas):
/// done once the writer applied it and <c>required</c> other nodes did, or once too few are left to reach that
/// (a node that disconnects no longer counts). Thread-safe.
/// </summary>
internal sealed class WriteConcern
{
    private readonly Lock _gate = new();
    private readonly string _writer;
    private readonly HashSet<string> _waitingFor;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _required;
    private int _acked;
    private bool _writerApplied;

    public WriteConcern(string writer, IEnumerable<string> others, int required)
    {
        _writer = writer;
        _waitingFor = new HashSet<string>(others, StringComparer.Ordinal);
        _required = Math.Min(required, _waitingFor.Count);
    }

    /// <summary>Completes when the change is held as asked.</summary>
    public Task Done => _done.Task;

    /// <summary>The node applied the change.</summary>
    public void Applied(string node)
    {
        lock (_gate)
        {
            if (node == _writer)
                _writerApplied = true;
            else if (_waitingFor.Remove(node))
                _acked++;
            Check();
        }
    }

    /// <summary>The node left: it will not apply the change, and no longer counts.</summary>
    public void Forget(string node)
    {
        lock (_gate)
        {
            if (node == _writer)
                _writerApplied = true;
            else if (_waitingFor.Remove(node))
                _required = Math.Min(_required, _acked + _waitingFor.Count);
            Check();
        }
    }

    private void Check()
    {
        if (_writerApplied && _acked >= _required)
            _done.TrySetResult();
    }
}
