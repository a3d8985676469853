using Multicast.Messaging;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

/// <summary>
/// A group channel the test plays by hand: it installs the views it is told to and delivers the store messages it is
/// given, on the calling thread, to the store's handler; everything the store sends is recorded (decoded). For tests of
/// one store node's rules at an exact point of a view change, with no network and no timing.
/// </summary>
internal sealed class ScriptedGroupChannel(string nodeId) : IGroupChannel
{
    private readonly Lock _gate = new();
    private readonly List<(string? To, Envelope Message)> _sent = [];
    private readonly List<Envelope> _sentOnReceiveThread = [];
    private readonly List<(string To, Envelope Message)> _refused = [];
    private readonly Dictionary<string, Queue<Envelope>> _untaken = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource<GroupHandler> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _sequence;
    private int _windowRefusals;

    /// <summary>The channel whose delivery to the store is in progress on this thread (this thread plays its receive
    /// thread until the store's handler returns).</summary>
    [ThreadStatic]
    private static ScriptedGroupChannel? s_delivering;

    public Member LocalMember { get; } = new(nodeId, 1, $"scripted://{nodeId}", string.Empty);

    public MembershipView View { get; private set; } = new(0, []);

    /// <summary>Completes with the store's handler once the store started the channel.</summary>
    public Task<GroupHandler> Started => _started.Task;

    /// <summary>What the store sent: to one member (<c>To</c> is its node id) or to the group (<c>To</c> is null).</summary>
    public IReadOnlyList<(string? To, Envelope Message)> Sent
    {
        get
        {
            lock (_gate)
                return [.. _sent];
        }
    }

    /// <summary>What the store sent from inside a delivery, on the delivering thread, before its handler returned: what
    /// a real channel's receive thread would have done itself.</summary>
    public IReadOnlyList<Envelope> SentOnReceiveThread
    {
        get
        {
            lock (_gate)
                return [.. _sentOnReceiveThread];
        }
    }

    /// <summary>What the store tried to send to one member and the channel refused (not in the view, or
    /// <see cref="RefuseSendsTo"/>): the store's answer, though nobody received it.</summary>
    public IReadOnlyList<(string To, Envelope Message)> Refused
    {
        get
        {
            lock (_gate)
                return [.. _refused];
        }
    }

    public static Member MemberOf(string nodeId) => new(nodeId, 1, $"scripted://{nodeId}", string.Empty);

    /// <summary>Installs a view of these nodes (each in incarnation 1) and tells the store.</summary>
    public async Task<MembershipView> InstallAsync(long id, params string[] nodes)
    {
        var view = new MembershipView(id, [.. nodes.Select(MemberOf)]);
        View = view;
        await OnReceiveThreadAsync(handler => handler.OnViewChanged(view));
        return view;
    }

    /// <summary>Tells the store the group removed this member while it was alive, as the real channel does when it finds
    /// that out (it forgets the group, announces <see cref="GroupHandler.OnExcluded"/> with the last view it had, and
    /// rejoins): the view is empty, so nothing can be sent to a member, until the next <see cref="InstallAsync"/>.</summary>
    public async Task ExcludeAsync()
    {
        var last = View;
        View = new MembershipView(0, []);
        await OnReceiveThreadAsync(handler => handler.OnExcluded(last));
    }

    /// <summary>Delivers a store message from <paramref name="from"/> to the store, as the channel's receive thread would.</summary>
    public Task DeliverAsync(string from, Envelope message, bool unicast = true) =>
        OnReceiveThreadAsync(handler => handler.OnMessage(MemberOf(from), Interlocked.Increment(ref _sequence), StoreCodec.Encode(message), unicast));

    private async Task OnReceiveThreadAsync(Action<GroupHandler> deliver)
    {
        var handler = await Started;
        var outer = s_delivering;
        s_delivering = this;
        try
        {
            deliver(handler);
        }
        finally
        {
            s_delivering = outer;
        }
    }

    public ValueTask StartAsync(GroupHandler handler, CancellationToken cancellationToken = default)
    {
        _started.TrySetResult(handler);
        return ValueTask.CompletedTask;
    }

    public ValueTask<long> BroadcastAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default)
    {
        Record(null, message);
        return ValueTask.FromResult(Interlocked.Increment(ref _sequence));
    }

    /// <summary>Sends to the members for which this holds are refused as a real channel refuses them while it rejoins
    /// (<see cref="InvalidOperationException"/>, nothing sent).</summary>
    public Func<string, bool>? RefuseSendsTo { get; set; }

    /// <summary>How many unicasts to one member the channel holds until the test takes them (<see cref="Take"/>), as a
    /// real channel holds what its receiver has not acknowledged; a send beyond it is refused with
    /// <see cref="SendWindowFullException"/> (a real channel refuses it after its send timeout) and nothing is sent.
    /// Null: no window.</summary>
    public int? SendWindow { get; set; }

    /// <summary>How many sends <see cref="SendWindow"/> refused.</summary>
    public int WindowRefusals => Volatile.Read(ref _windowRefusals);

    /// <summary>The unicasts to <paramref name="nodeId"/> the test has not taken yet, oldest first; taking them frees
    /// their room in <see cref="SendWindow"/>.</summary>
    public IReadOnlyList<Envelope> Take(string nodeId)
    {
        lock (_gate)
        {
            if (!_untaken.TryGetValue(nodeId, out var queue))
                return [];
            var taken = queue.ToList();
            queue.Clear();
            return taken;
        }
    }

    public ValueTask SendAsync(string nodeId, ReadOnlyMemory<byte> message, CancellationToken cancellationToken = default)
    {
        if (!View.Contains(nodeId) || RefuseSendsTo?.Invoke(nodeId) == true)
        {
            var decoded = Decode(message);
            lock (_gate)
                _refused.Add((nodeId, decoded));
            throw new InvalidOperationException($"No member '{nodeId}' in the view.");
        }
        lock (_gate)
        {
            if (SendWindow is { } window && _untaken.TryGetValue(nodeId, out var queue) && queue.Count >= window)
            {
                _windowRefusals++;
                return ValueTask.FromException(new SendWindowFullException());
            }
        }
        Record(nodeId, message);
        return ValueTask.CompletedTask;
    }

    public Task WaitForAcksAsync(long sequence, int members, CancellationToken cancellationToken = default) => Task.CompletedTask;

    public ValueTask LeaveAsync(CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void Record(string? to, ReadOnlyMemory<byte> message)
    {
        var decoded = Decode(message);
        lock (_gate)
        {
            _sent.Add((to, decoded));
            if (s_delivering == this)
                _sentOnReceiveThread.Add(decoded);
            if (to is not null)
            {
                if (!_untaken.TryGetValue(to, out var queue))
                    _untaken[to] = queue = new Queue<Envelope>();
                queue.Enqueue(decoded);
            }
        }
    }

    private static Envelope Decode(ReadOnlyMemory<byte> message) =>
        StoreCodec.TryDecode(message.Span, int.MaxValue, out var decoded) ? decoded
            : throw new InvalidOperationException("The store sent a message its own codec does not read.");
}
