using Multicast.Messaging;

namespace Multicast.Tests.TestSupport;

/// <summary>A <see cref="GroupHandler"/> that records what it is given, and checks the receive-thread contract.</summary>
public sealed class CollectingHandler : GroupHandler
{
    private readonly object _lock = new();
    private readonly List<Received> _messages = [];
    private readonly List<MembershipView> _views = [];
    private readonly List<MembershipView> _excluded = [];
    private int _threadId = -1;
    private int _concurrent;

    /// <summary>Set when a call came on a different thread than the first, or overlapped another call.</summary>
    public string? ContractViolation { get; private set; }

    /// <summary>Optional: called for every message (on the receive thread), e.g. to reply.</summary>
    public Action<Member, long, byte[], bool>? OnReceived { get; set; }

    public override void OnMessage(Member sender, long sequence, ReadOnlySpan<byte> payload, bool unicast)
    {
        Enter();
        try
        {
            var copy = payload.ToArray();
            lock (_lock)
                _messages.Add(new Received(sender, sequence, copy, unicast));
            OnReceived?.Invoke(sender, sequence, copy, unicast);
        }
        finally
        {
            Interlocked.Decrement(ref _concurrent);
        }
    }

    public override void OnViewChanged(MembershipView view)
    {
        Enter();
        try
        {
            lock (_lock)
                _views.Add(view);
        }
        finally
        {
            Interlocked.Decrement(ref _concurrent);
        }
    }

    public override void OnExcluded(MembershipView lastView)
    {
        Enter();
        try
        {
            lock (_lock)
                _excluded.Add(lastView);
        }
        finally
        {
            Interlocked.Decrement(ref _concurrent);
        }
    }

    /// <summary>The last views this member had when it found it was excluded, in order.</summary>
    public IReadOnlyList<MembershipView> Exclusions
    {
        get
        {
            lock (_lock)
                return [.. _excluded];
        }
    }

    private void Enter()
    {
        if (Interlocked.Increment(ref _concurrent) != 1)
            ContractViolation = "two handler calls overlapped";
        var id = Environment.CurrentManagedThreadId;
        if (Interlocked.CompareExchange(ref _threadId, id, -1) is var first && first != -1 && first != id)
            ContractViolation = $"handler called on thread {id} and {first}";
    }

    public int Count
    {
        get
        {
            lock (_lock)
                return _messages.Count;
        }
    }

    public IReadOnlyList<Received> Messages
    {
        get
        {
            lock (_lock)
                return [.. _messages];
        }
    }

    public IReadOnlyList<MembershipView> Views
    {
        get
        {
            lock (_lock)
                return [.. _views];
        }
    }

    public MembershipView? LastView
    {
        get
        {
            lock (_lock)
                return _views.Count == 0 ? null : _views[^1];
        }
    }

    public int CountFrom(string nodeId, bool unicast = false)
    {
        lock (_lock)
            return _messages.Count(m => m.Sender.NodeId == nodeId && m.Unicast == unicast);
    }

    public IReadOnlyList<Received> From(string nodeId, bool unicast = false)
    {
        lock (_lock)
            return _messages.Where(m => m.Sender.NodeId == nodeId && m.Unicast == unicast).ToArray();
    }

    public sealed record Received(Member Sender, long Sequence, byte[] Payload, bool Unicast);
}
