using System.Collections.Concurrent;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.Tests.AspNetCore;

/// <summary>A one-node store for the middleware tests: real locks (so waiting can be observed), injectable conflicts and commit failures.</summary>
internal sealed class FakeClusterStore : IClusterStore, IClusterMembership
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);
    private long _token;
    private int _waiting;

    public string InstanceId => "fake1";

    private SessionStoreContext? _context;

    public MembershipView View { get; } = new(1, [new Member("fake1", 1, "mem://fake1", "http://fake1.example")]);

    public bool IsReady { get; set; }

    public ClusterStoreStatus Status => StatusOverride ?? (IsReady ? ClusterStoreStatus.Ready : ClusterStoreStatus.Joining);

    /// <summary>Reported instead of Ready/Joining (health checks).</summary>
    public ClusterStoreStatus? StatusOverride { get; set; }

    /// <summary>Thrown by finds and creates (a store that cannot serve now).</summary>
    public Exception? FindFailure { get; set; }

    /// <summary>Started is awaited by the node; tests may hold it to observe the joining state.</summary>
    public TaskCompletionSource Joined { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Thrown by the next exclusive find.</summary>
    public SessionLockedException? Conflict { get; set; }

    /// <summary>Thrown by commits (the lock is released first, as the contract says).</summary>
    public Exception? CommitFailure { get; set; }

    /// <summary>How many exclusive finds are waiting for a lock.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    public int Finds;
    public int Commits;
    public int Releases;

    public SessionTable Table => _context!.Table;

    /// <summary>Keeps the node joining until <see cref="Joined"/> is completed.</summary>
    public bool HoldJoin { get; set; }

    /// <summary>Thrown by <see cref="StartAsync"/> (a node that cannot join).</summary>
    public Exception? StartFailure { get; set; }

    public async Task StartAsync(SessionStoreContext context, CancellationToken cancellationToken = default)
    {
        _context = context;
        if (StartFailure is not null)
            throw StartFailure;
        if (!HoldJoin)
            Joined.TrySetResult();
        await Joined.Task.WaitAsync(cancellationToken);
        IsReady = true;
    }

    public Task StopAsync(CancellationToken cancellationToken = default)
    {
        IsReady = false;
        return Task.CompletedTask;
    }

    public async Task<Session> CreateAsync(CancellationToken cancellationToken = default)
    {
        if (FindFailure is { } failure)
            throw failure;
        var now = DateTimeOffset.UtcNow;
        var record = SessionState.Create(SessionIds.New(View.Members[0].RingIndex), now, _context!.Options.IdleTimeout, InstanceId);
        var held = await LockAsync(record.Id, cancellationToken);
        return new Session(record, SessionAccess.Exclusive, held, isNew: true);
    }

    public async Task<Session?> FindAsync(string id, SessionAccess access, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Finds);
        if (FindFailure is { } failure)
            throw failure;
        if (access == SessionAccess.Exclusive && Conflict is { } conflict)
            throw conflict;
        if (!Table.TryGet(id, out var found))
            return null;
        if (access != SessionAccess.Exclusive)
            return new Session(found, access, null, isNew: false);
        var held = await LockAsync(id, cancellationToken);
        if (!Table.TryGet(id, out var record))
        {
            Unlock(id);
            return null;
        }
        return new Session(record, access, held, isNew: false);
    }

    public Task CommitAsync(Session session, CancellationToken cancellationToken = default)
    {
        if (!session.MarkCompleted())
            throw new InvalidOperationException("committed twice");
        try
        {
            if (CommitFailure is { } failure)
                throw failure;
            if (session.IsChanged || session.IsNew)
            {
                var record = session.State.Apply(session.Changes, session.Version + 1, InstanceId, session.Lock?.Token ?? 0, DateTimeOffset.UtcNow);
                if (record.Size > _context!.Options.MaxSessionBytes)
                    throw new SessionTooLargeException(session.Id, record.Size, _context.Options.MaxSessionBytes);
                Table.Set(record);
                session.MarkCommitted(record);
                Interlocked.Increment(ref Commits);
            }
            return Task.CompletedTask;
        }
        finally
        {
            Unlock(session.Id);
        }
    }

    public Task ReleaseAsync(Session session, CancellationToken cancellationToken = default)
    {
        if (session.MarkCompleted())
        {
            Interlocked.Increment(ref Releases);
            Unlock(session.Id);
        }
        return Task.CompletedTask;
    }

    public Task<bool> RemoveAsync(string id, SessionRemovalReason reason, CancellationToken cancellationToken = default)
    {
        var removed = Table.Remove(id);
        Unlock(id);
        return Task.FromResult(removed);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<SessionLock> LockAsync(string id, CancellationToken cancellationToken)
    {
        var gate = _locks.GetOrAdd(id, _ => new SemaphoreSlim(1, 1));
        Interlocked.Increment(ref _waiting);
        try
        {
            await gate.WaitAsync(cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }
        return new SessionLock(id, InstanceId, Interlocked.Increment(ref _token), DateTimeOffset.UtcNow.AddSeconds(30), 0);
    }

    private void Unlock(string id)
    {
        if (_locks.TryGetValue(id, out var gate) && gate.CurrentCount == 0)
            gate.Release();
    }
}
