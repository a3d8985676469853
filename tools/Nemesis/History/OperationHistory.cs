using System.Collections.Concurrent;
using System.Diagnostics;
using Multicast.Nemesis.Schedules;

namespace Multicast.Nemesis.History;

/// <summary>The steps of one run, on one clock (started with the load). Safe for concurrent recording.</summary>
internal sealed class OperationHistory
{
    private readonly ConcurrentQueue<OpRecord> _ops = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private int _nextId;

    /// <summary>Time on the history's clock.</summary>
    public TimeSpan Now => _clock.Elapsed;

    /// <summary>Records a step as sent now; the caller fills in the rest as answers come.</summary>
    public OpRecord Begin(int client, OpKind kind, int slot, string? sessionId, int node)
    {
        var op = new OpRecord
        {
            Id = Interlocked.Increment(ref _nextId),
            Client = client,
            Kind = kind,
            Slot = slot,
            SessionId = sessionId,
            Node = node,
            Invoked = Now,
        };
        _ops.Enqueue(op);
        return op;
    }

    /// <summary>Every step so far, by id.</summary>
    public IReadOnlyList<OpRecord> Snapshot() => [.. _ops.OrderBy(o => o.Id)];
}
