using Multicast.Sessions;
using Multicast.Transports.InMemory;

namespace Multicast.Nemesis.Cluster;

/// <summary>One node of a harness cluster: its clock (kept across restarts), and the current incarnation's transport,
/// store and manager.</summary>
internal sealed class NemesisNode(int index, NodeClock clock, string dataDirectory)
{
    private TaskCompletionSource _running = Completed();
    private int _generation;

    public int Index { get; } = index;

    public string NodeId => $"node{Index + 1}";

    public NodeClock Clock { get; } = clock;

    /// <summary>The ring store's disk copy; empty for the replicated store.</summary>
    public string DataDirectory { get; } = dataDirectory;

    public InMemoryTransport? Transport { get; set; }

    public IClusterStore? Store { get; set; }

    public SessionManager? Manager { get; set; }

    public volatile NodeState State = NodeState.Down;

    /// <summary>Increases each time the node goes down: a step sent to one generation that completes in another saw the
    /// node die.</summary>
    public int Generation => Volatile.Read(ref _generation);

    public bool IsPaused => Clock.IsPaused;

    /// <summary>Completes when the node is not paused (a request sent to a frozen process waits for it).</summary>
    public Task Running => Volatile.Read(ref _running).Task;

    /// <summary>The last incarnation's disposal: a restart waits for it, so two incarnations never share the disk copy
    /// (a killed process writes nothing more).</summary>
    public Task Dying { get; set; } = Task.CompletedTask;

    /// <summary>Set on a crash that deletes the disk copy: the next start begins empty.</summary>
    public bool WipeOnRestart { get; set; }

    /// <summary>How many pause faults are on (overlapping ones nest).</summary>
    public int PauseDepth { get; set; }

    public void NextGeneration() => Interlocked.Increment(ref _generation);

    public void MarkPaused()
    {
        var current = Volatile.Read(ref _running);
        if (current.Task.IsCompleted)
            Interlocked.CompareExchange(ref _running, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), current);
    }

    public void MarkResumed() => Volatile.Read(ref _running).TrySetResult();

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }
}
