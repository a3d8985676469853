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
    private readonly Dictionary<string, Queue<Envelope>> _untaken = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource<GroupHandler> _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _sequence;
    private int _windowRefusals;
    private int _refused;

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

    public static Member MemberOf(string nodeId) => new(nodeId, 1, $"scripted://{nodeId}", string.Empty);

    /// <summary>Installs a view of these nodes (each in incarnation 1) and tells the store.</summary>
    public async Task<MembershipView> InstallAsync(long id, params string[] nodes)
    {
        var view = new MembershipView(id, [.. nodes.Select(MemberOf)]);
        View = view;
        (await Started).OnViewChanged(view);
        return view;
    }

    /// <summary>Delivers a store message from <paramref name="from"/> to the store, as the channel's receive thread would.</summary>
    public async Task DeliverAsync(string from, Envelope message, bool unicast = true) =>
        (await Started).OnMessage(MemberOf(from), Interlocked.Increment(ref _sequence), StoreCodec.Encode(message), unicast);

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

    /// <summary>How many sends <see cref="RefuseSendsTo"/> refused.</summary>
    public int Refused => Volatile.Read(ref _refused);

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
        if (!View.Contains(nodeId))
            throw new InvalidOperationException($"No member '{nodeId}' in the view.");
        if (RefuseSendsTo?.Invoke(nodeId) == true)
        {
            Interlocked.Increment(ref _refused);
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
        if (!StoreCodec.TryDecode(message.Span, int.MaxValue, out var decoded))
            throw new InvalidOperationException("The store sent a message its own codec does not read.");
        lock (_gate)
        {
            _sent.Add((to, decoded));
            if (to is not null)
            {
                if (!_untaken.TryGetValue(to, out var queue))
                    _untaken[to] = queue = new Queue<Envelope>();
                queue.Enqueue(decoded);
            }
        }
    }
}
