using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.Tests.PublicStore;

/// <summary>
/// A cluster store whose nodes share one <see cref="SessionServer"/> (standing in for Redis or a database), written only
/// against Multicast.Core's public API: the worked example of <c>docs/stores.md</c>, "Writing your own store".
/// </summary>
/// <remarks>
/// <para>The server is the source of truth: locks (leases, fencing tokens), versions and removals are decided there,
/// one atomic call each. Exclusive and <see cref="ReadConsistency.Latest"/> reads ask it; the node's
/// <see cref="SessionTable"/> is kept current by the server's notifications, applied in the server's order by one
/// receive loop (the only writer of the table), so the manager's sweeper and <see cref="ReadConsistency.Local"/> reads
/// see every commit.</para>
/// <para>Options used: <see cref="ClusterStoreOptions.NodeId"/>, <see cref="ClusterStoreOptions.PublicAddress"/>,
/// <see cref="ClusterStoreOptions.ReplicationAcks"/> (how many other nodes' tables must hold a commit before it returns,
/// bounded by <see cref="ClusterStoreOptions.CommitTimeout"/>: the server already holds it durably),
/// <see cref="ClusterStoreOptions.Locking"/>, <see cref="ClusterStoreOptions.ReadConsistency"/>,
/// <see cref="ClusterStoreOptions.ConflictPolicy"/>, <see cref="ClusterStoreOptions.LockLease"/> and
/// <see cref="ClusterStoreOptions.LockWaitTimeout"/>. The ring's and the channel's options do not apply.</para>
/// </remarks>
public sealed partial class ServerClusterStore : IClusterStore, IClusterMembership
{
    private static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);
    private const int NotStarted = 0, Joining = 1, Serving = 2, Leaving = 3, Stopped = 4;

    private readonly SessionServer _server;
    private readonly ClusterStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, long> _held = new(StringComparer.Ordinal); // tokens this node's requests hold
    private readonly Channel<ServerNotification> _inbox = Channel.CreateUnbounded<ServerNotification>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private SessionStoreContext? _context;
    private Member? _self;
    private MembershipView _view = new(0, []);
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _receiving = Task.CompletedTask;
    private int _state;
    private int _inFlight; // commits and removals under way: a graceful stop lets them finish

    /// <summary>Creates a node's store over the shared <paramref name="server"/>.</summary>
    /// <param name="server">The server every node of the cluster connects to.</param>
    /// <param name="options">This node's options (validated here).</param>
    /// <param name="time">The node's clock, for the waits.</param>
    /// <param name="logger">Where failures of event handlers on the receive loop go.</param>
    public ServerClusterStore(SessionServer server, ClusterStoreOptions options, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _server = server;
        _options = options;
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <inheritdoc />
    public string InstanceId => _options.NodeId;

    /// <summary>The nodes connected to the server, as this node last heard it.</summary>
    public MembershipView View => Volatile.Read(ref _view);

    /// <inheritdoc />
    public ClusterStoreStatus Status => Volatile.Read(ref _state) switch
    {
        Joining => ClusterStoreStatus.Joining,
        Serving => _server.IsAvailable ? ClusterStoreStatus.Ready : ClusterStoreStatus.NoQuorum, // cut off from the server
        Leaving => ClusterStoreStatus.Leaving,
        _ => ClusterStoreStatus.Stopped,
    };

    private SessionOptions SessionOptions => _context!.Options;

    private TimeSpan AccessWindow => SessionOptions.AccessWindow > TimeSpan.Zero ? SessionOptions.AccessWindow : SessionOptions.IdleTimeout / 4;

    /// <inheritdoc />
    public Task StartAsync(SessionStoreContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Interlocked.CompareExchange(ref _context, context, null) is not null)
            throw new InvalidOperationException("The store is already started.");
        Volatile.Write(ref _state, Joining);
        ServerSnapshot snapshot;
        try
        {
            // Atomic on the server: the snapshot, then every later decision on the inbox, so nothing falls in between.
            snapshot = _server.Connect(InstanceId, _options.PublicAddress, _inbox.Writer);
        }
        catch (SessionServerUnavailableException ex)
        {
            Volatile.Write(ref _state, NotStarted);
            _context = null;
            throw Unavailable("cannot join: the session server is unavailable", ex);
        }
        foreach (var state in snapshot.Sessions)
            Apply(state);
        _self = snapshot.Self;
        Volatile.Write(ref _view, snapshot.View);
        _receiving = ReceiveLoopAsync(_stopping.Token);
        Volatile.Write(ref _state, Serving);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _state, Leaving, Serving) != Serving)
            return;
        // No new finds from here; the commits and removals already under way finish (a commit that comes later, from a
        // request that held a lock, is refused: the lock ends with this node's connection).
        if (Volatile.Read(ref _inFlight) > 0)
            await _drained.Task.WaitAsync(cancellationToken);
        // The server frees this node's locks at once and tells the others; commits in flight stop waiting for this node.
        _server.Disconnect(InstanceId, _self!.Incarnation);
        _inbox.Writer.TryComplete();
        await _receiving.WaitAsync(cancellationToken);
        Volatile.Write(ref _state, Stopped);
    }

    /// <inheritdoc />
    public Task<Session> CreateAsync(CancellationToken cancellationToken = default)
    {
        EnsureServing();
        var state = SessionState.Create(SessionIds.New(_self!.RingIndex), _time.GetUtcNow(), SessionOptions.IdleTimeout, InstanceId);
        // Nobody else can know a fresh id: no lock until the first commit creates the session on the server.
        return Task.FromResult(new Session(state, SessionAccess.Exclusive, held: null, isNew: true));
    }

    /// <inheritdoc />
    public async Task<Session?> FindAsync(string id, SessionAccess access, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        EnsureServing();
        switch (access)
        {
            case SessionAccess.None:
                return null;
            case SessionAccess.ReadOnly:
                var read = _options.ReadConsistency == ReadConsistency.Local ? _context!.Table.Get(id) : Call(() => _server.Read(id, AccessWindow));
                return read is null || read.IsExpired(_time.GetUtcNow()) ? null : new Session(read, SessionAccess.ReadOnly);
            case SessionAccess.Exclusive when _options.Locking == LockingMode.None:
                var latest = Call(() => _server.Read(id, AccessWindow));
                return latest is null ? null : new Session(latest, SessionAccess.Exclusive);
            default:
                return await LockAsync(id, cancellationToken);
        }
    }

    private async Task<Session?> LockAsync(string id, CancellationToken cancellationToken)
    {
        var policy = _options.ConflictPolicy;
        var deadline = _time.GetUtcNow() + _options.LockWaitTimeout;
        while (true)
        {
            var reply = Call(() => _server.TryLock(id, InstanceId, _options.LockLease, AccessWindow));
            switch (reply.Outcome)
            {
                case LockOutcome.NotFound:
                    return null;
                case LockOutcome.Granted:
                    _held[id] = reply.Token;
                    return new Session(reply.State!, SessionAccess.Exclusive, new SessionLock(id, InstanceId, reply.Token, reply.ExpiresAt, reply.State!.Version));
            }
            if (policy != LockConflictPolicy.Wait)
                throw new SessionLockedException(id, reply.Holder, policy == LockConflictPolicy.Redirect ? reply.HolderAddress : string.Empty, policy);
            // Woken by the release (or the lease's end, or the holder leaving), never by polling.
            var left = deadline - _time.GetUtcNow();
            try
            {
                if (left <= TimeSpan.Zero)
                    throw new TimeoutException();
                await reply.Freed!.WaitAsync(left, _time, cancellationToken);
            }
            catch (TimeoutException)
            {
                throw new SessionLockedException(id, reply.Holder, reply.HolderAddress, policy, $"still held after waiting {_options.LockWaitTimeout}");
            }
        }
    }

    /// <inheritdoc />
    public async Task CommitAsync(Session session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session.IsCompleted)
            throw new InvalidOperationException($"Session '{session.Id}' was already committed or released in this request.");
        if (session.Access != SessionAccess.Exclusive)
        {
            session.MarkCompleted();
            return;
        }
        if (!session.IsChanged && !session.IsNew && !SessionOptions.AlwaysSave)
        {
            await ReleaseAsync(session, cancellationToken);
            return;
        }
        using var inFlight = Enter();
        session.MarkCompleted();
        _held.TryRemove(session.Id, out _);
        var token = session.Lock?.Token ?? 0;
        var changes = session.Changes;
        var request = new CommitRequest(Guid.NewGuid(), session.Id, InstanceId, token, _options.Locking == LockingMode.Pessimistic, session.IsNew, session.State,
            new Dictionary<string, byte[]>(changes.Set, StringComparer.Ordinal), [.. changes.Removed], changes.IdleTimeout,
            SessionOptions.MaxSessionBytes, _options.ReplicationAcks);
        WriteReply reply;
        try
        {
            reply = Call(() => _server.Commit(request));
        }
        catch (SessionServerReplyLostException)
        {
            reply = await OutcomeAsync(request, cancellationToken);
        }
        switch (reply.Outcome)
        {
            case WriteOutcome.Applied:
                await HeldAsync(reply.Concern!, cancellationToken);
                session.MarkCommitted(reply.State!);
                return;
            case WriteOutcome.TooLarge:
                throw new SessionTooLargeException(session.Id, reply.Detail, SessionOptions.MaxSessionBytes);
            case WriteOutcome.StaleToken:
                throw new LockLostException(session.Id, token, reply.Detail);
            default:
                throw new LockLostException($"Session '{session.Id}' was removed before this commit; nothing was changed.");
        }
    }

    /// <summary>The answer was lost: asks the server, until the commit timeout, whether the commit was applied. Applied:
    /// its answer. Not applied: "not applied" (the lock stays until its lease ends). No answer: in doubt.</summary>
    private async Task<WriteReply> OutcomeAsync(CommitRequest request, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + _options.CommitTimeout;
        var pause = TimeSpan.FromMilliseconds(5);
        while (true)
        {
            try
            {
                return _server.OutcomeOf(request.Id, request.CommitId) ??
                    throw new ClusterUnavailableException(ClusterStoreStatus.NoQuorum, $"The commit of session '{request.Id}' lost its answer and was not applied.", RetryAfter);
            }
            catch (SessionServerUnavailableException) when (_time.GetUtcNow() < deadline)
            {
                await Task.Delay(pause, _time, cancellationToken);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromMilliseconds(200).Ticks));
            }
            catch (SessionServerUnavailableException ex)
            {
                throw new CommitInDoubtException(request.Id,
                    $"The commit of session '{request.Id}' reached the session server, which could not say within {_options.CommitTimeout} whether it applied it ({ex.Message}); read the session before retrying.");
            }
        }
    }

    /// <inheritdoc />
    public Task ReleaseAsync(Session session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (!session.MarkCompleted() || session.Lock is not { } held)
            return Task.CompletedTask;
        _held.TryRemove(session.Id, out _);
        try
        {
            _server.Release(session.Id, InstanceId, held.Token);
        }
        catch (SessionServerUnavailableException ex)
        {
            LogReleaseFailed(session.Id, ex); // the lease frees it
        }
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task<bool> RemoveAsync(string id, SessionRemovalReason reason, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        using var inFlight = Enter();
        long token = 0;
        if (reason == SessionRemovalReason.Expired)
        {
            // The node acting as the session's owner decides; the server agrees only if it is idle by its clock and unlocked.
            if (!SessionIds.TryParseOwner(id, out var ring) || View.ActingOwner(ring)?.NodeId != InstanceId)
                return false;
        }
        else
        {
            token = _held.TryRemove(id, out var held) ? held : 0;
        }
        var reply = Call(() => _server.Remove(id, InstanceId, token, reason, _options.ReplicationAcks));
        switch (reply.Outcome)
        {
            case WriteOutcome.Applied:
                await HeldAsync(reply.Concern!, cancellationToken);
                return true;
            case WriteOutcome.StaleToken:
                throw new LockLostException(id, token, reply.Detail);
            default:
                return false;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _state, Stopped) is Serving or Leaving && _self is { } self)
            _server.Disconnect(InstanceId, self.Incarnation); // the connection closes: the server frees this node's locks
        _inbox.Writer.TryComplete();
        await _stopping.CancelAsync();
        await _receiving;
        _stopping.Dispose();
    }

    /// <summary>The receive loop: the server's notifications, in its order, applied to the table (its only writer after
    /// the snapshot). Owned by the store, cancelled and awaited on dispose; nothing escapes it.</summary>
    private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var notification in _inbox.Reader.ReadAllAsync(cancellationToken))
            {
                try
                {
                    Receive(notification);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    LogReceiveFailed(ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Receive(ServerNotification notification)
    {
        var context = _context!;
        switch (notification)
        {
            case ViewNotification v:
                Volatile.Write(ref _view, v.View);
                break;
            case StateNotification s:
                var newer = Apply(s.State);
                s.Concern?.Applied(InstanceId);
                if (newer && s.Writer.Length > 0 && s.Writer != InstanceId)
                    context.OnReceived(new SessionEventArgs(s.State.Id, s.State.Version, s.Writer));
                break;
            case RemovalNotification r:
                var held = context.Table.Remove(r.Id);
                r.Concern?.Applied(InstanceId);
                var e = new SessionEventArgs(r.Id, r.Version, r.Writer);
                // The manager raises Invalidated itself on the node that invalidated; expiry is raised everywhere.
                if (r.Reason == SessionRemovalReason.Expired && held)
                    context.OnRemoved(e, SessionRemovalReason.Expired);
                else if (r.Reason == SessionRemovalReason.Invalidated && held && r.Writer != InstanceId)
                    context.OnRemoved(e, SessionRemovalReason.Invalidated);
                break;
        }
    }

    /// <summary>Publishes a state unless the table holds a newer one (same version: a later access time wins).</summary>
    private bool Apply(SessionState state)
    {
        var table = _context!.Table;
        if (table.Get(state.Id) is { } current &&
            (current.Version > state.Version || (current.Version == state.Version && current.LastAccessedAt >= state.LastAccessedAt)))
            return false;
        table.Set(state);
        return true;
    }

    /// <summary>Waits for the write concern; past the commit timeout the change stands (the server holds it) and the
    /// remaining nodes catch up from the notification already on its way.</summary>
    private async Task HeldAsync(WriteConcern concern, CancellationToken cancellationToken)
    {
        try
        {
            await concern.Done.WaitAsync(_options.CommitTimeout, _time, cancellationToken);
        }
        catch (TimeoutException)
        {
            LogWriteConcernTimedOut(_options.CommitTimeout);
        }
    }

    /// <summary>Counts a commit or removal until it is disposed; refused once the store is leaving.</summary>
    private InFlight Enter()
    {
        Interlocked.Increment(ref _inFlight);
        var entered = new InFlight(this);
        try
        {
            EnsureServing();
        }
        catch
        {
            entered.Dispose();
            throw;
        }
        return entered;
    }

    private readonly struct InFlight(ServerClusterStore store) : IDisposable
    {
        public void Dispose()
        {
            // Stop sets Leaving before it reads the count, so the last one out after that always signals.
            if (Interlocked.Decrement(ref store._inFlight) == 0 && Volatile.Read(ref store._state) == Leaving)
                store._drained.TrySetResult();
        }
    }

    private void EnsureServing()
    {
        switch (Volatile.Read(ref _state))
        {
            case NotStarted:
                throw new InvalidOperationException("The store is not started: call SessionManager.StartAsync first.");
            case Joining:
                throw new ClusterUnavailableException(ClusterStoreStatus.Joining, $"Node '{InstanceId}' is still joining.", RetryAfter);
            case Leaving or Stopped:
                throw new ClusterUnavailableException(ClusterStoreStatus.Leaving, $"Node '{InstanceId}' has left the cluster.", RetryAfter);
        }
    }

    /// <summary>A server call; an unreachable server did nothing, so it is "not applied": <see cref="ClusterUnavailableException"/>.</summary>
    private T Call<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (SessionServerUnavailableException ex)
        {
            throw Unavailable("the session server is unavailable; nothing was changed", ex);
        }
    }

    private ClusterUnavailableException Unavailable(string what, Exception inner) =>
        new(ClusterStoreStatus.NoQuorum, $"Node '{InstanceId}' {what} ({inner.Message})", RetryAfter);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A session event handler failed on the receive loop")]
    private partial void LogReceiveFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Releasing session {SessionId} failed; its lease frees it")]
    private partial void LogReleaseFailed(string sessionId, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "A commit's write concern was not met within {Timeout}; the server holds it")]
    private partial void LogWriteConcernTimedOut(TimeSpan timeout);
}
