using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

/// <summary>
/// What both cluster stores are made of. Each session's acting owner (its id's ring index, or the next live node
/// in ring order) arbitrates its lock and sequences its commits: a holder elsewhere sends its change to the
/// arbiter, which validates the fencing token, applies it and hands it to the members that hold the session
/// (<see cref="SessionPlacement"/>: every member, by broadcast; or the ring's backups, by reliable unicast with an
/// acknowledgement). So each session has one order of versions on every node that holds it.
/// </summary>
/// <remarks>
/// <para>A node that becomes a session's arbiter after a view change first asks every member for its copy
/// (and the previous arbiter for the lock) before granting, so no committed version is lost when an arbiter dies.</para>
/// <para>A joining node receives the sessions it must hold by state transfer before it reports ready.</para>
/// </remarks>
internal sealed partial class StoreEngine : IClusterStore
{
    private static readonly MembershipView NoView = new(-1, []);

    private readonly IGroupChannel _channel;
    private readonly ClusterStoreOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly Handler _handler;
    private readonly SessionPlacement _placement;
    private SessionDisk? _disk;

    // Guards the table's writes, the lock states and the pending updates: short critical sections, no awaits.
    private readonly Lock _gate = new();
    private readonly Dictionary<string, LockState> _locks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task> _recoveries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<ulong, PendingCall> _calls = new();
    private readonly ConcurrentDictionary<string, long> _touched = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _tombstones = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();

    private SessionStoreContext? _context;
    private volatile MembershipView _view = NoView;
    private long _nextCallId;
    private ITimer? _timer;
    private DateTimeOffset _lastTouchFlush;
    private int _stopped;

    /// <summary>Creates the store over a group channel (not yet started: <see cref="StartAsync"/> starts it).</summary>
    public StoreEngine(IGroupChannel channel, ClusterStoreOptions options, SessionPlacement placement, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(channel);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _channel = channel;
        _options = options;
        _placement = placement;
        _time = time ?? TimeProvider.System;
        _log = logger ?? NullLogger.Instance;
        _handler = new Handler(this);
    }

    /// <inheritdoc />
    public string InstanceId => _options.NodeId;


    /// <inheritdoc />
    public MembershipView View => _view;

    /// <summary>True once this node has joined and holds every session it must (state transfer done).</summary>
    public bool IsReady => _ready.Task.IsCompletedSuccessfully;

    /// <inheritdoc />
    public ClusterStoreStatus Status => Volatile.Read(ref _stopped) != 0 ? ClusterStoreStatus.Leaving
        : _context is null ? ClusterStoreStatus.Stopped
        : !IsReady ? ClusterStoreStatus.Joining
        : RequiredAcks(_view) < _options.ReplicationAcks ? ClusterStoreStatus.Degraded
        : ClusterStoreStatus.Ready;

    /// <summary>What the store refused, repaired and transferred.</summary>
    public StoreCounters Counters { get; } = new();

    internal IGroupChannel Channel => _channel;

    private SessionTable Table => _context!.Table;

    private SessionOptions SessionOptions => _context!.Options;

    /// <inheritdoc />
    public async Task StartAsync(SessionStoreContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Interlocked.CompareExchange(ref _context, context, null) is not null)
            throw new InvalidOperationException("The store is already started.");
        _lastTouchFlush = _time.GetUtcNow();
        if (!_placement.EveryNode && !string.IsNullOrEmpty(_options.DataDirectory))
            LoadDisk();
        await _channel.StartAsync(_handler, cancellationToken);
        var period = TimeSpan.FromMilliseconds(Math.Clamp(_options.LockLease.TotalMilliseconds / 4, 20, 250));
        _timer = _time.CreateTimer(_ => OnTick(), null, period, period);
        await JoinAsync(cancellationToken);
        await _ready.Task.WaitAsync(cancellationToken);
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
            return;
        await _stopping.CancelAsync();
        if (_timer is not null)
            await _timer.DisposeAsync();
        try
        {
            await FlushTouchesAsync();
            await _channel.LeaveAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or SendWindowFullException or ObjectDisposedException)
        {
            LogLeaveFailed(ex);
        }
        FailCalls(_ => true);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        await _channel.DisposeAsync();
        if (_disk is not null)
            await _disk.DisposeAsync();
        _stopping.Dispose();
    }

    /// <inheritdoc />
    public Task<Session> CreateAsync(CancellationToken cancellationToken = default)
    {
        EnsureStarted();
        var now = _time.GetUtcNow();
        var id = SessionIds.New(Member.RingIndexOf(InstanceId));
        var record = new SessionState
        {
            Id = id,
            CreatedAt = now,
            LastAccessedAt = now,
            IdleTimeout = SessionOptions.IdleTimeout,
            LastWriter = InstanceId,
        };
        SessionLock? held = null;
        if (_options.Locking == LockingMode.Pessimistic)
        {
            // Nobody else can know a fresh id, so the creator locks it without asking anyone.
            lock (_gate)
            {
                var st = GetLockState(id);
                st.ConfirmedInView = _view.Id;
                held = GrantLocked(st, InstanceId, now, record.Version);
            }
        }
        return Task.FromResult(new Session(record, SessionAccess.Exclusive, held, isNew: true));
    }

    /// <inheritdoc />
    public async Task<Session?> FindAsync(string id, SessionAccess access, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        EnsureStarted();
        if (access == SessionAccess.None)
            return null;
        var now = _time.GetUtcNow();
        if (access == SessionAccess.ReadOnly || _options.Locking == LockingMode.None)
        {
            // A holder reads its own copy (no network); elsewhere the acting owner has the latest.
            // A ring backup that has not received its copy yet (a view change just made it one) asks too.
            var current = HoldsHere(id) ? Table.Get(id) : null;
            if (current is null && !_placement.EveryNode)
                current = await FetchLatestAsync(id, null, cancellationToken);
            else if (_options.ReadConsistency == ReadConsistency.Latest && !IsArbiter(id, _view))
                current = await FetchLatestAsync(id, current, cancellationToken);
            if (current is null || IsExpired(current, now))
                return null;
            Touch(id, now);
            return new Session(current, access, null, isNew: false);
        }

        var (grant, loaded) = await AcquireAsync(id, cancellationToken);
        if (grant is null)
            return null;
        var record = loaded ?? Table.Get(id);
        if (record is null || record.Version < grant.Version || IsExpired(record, now))
        {
            // Granted, yet this node cannot show the granted version: give the lock back rather than serve stale state.
            await ReleaseTokenAsync(id, grant.Token);
            if (record is not null && !IsExpired(record, now))
                throw new TimeoutException($"Session '{id}' version {grant.Version} did not reach node '{InstanceId}' in time.");
            return null;
        }
        Touch(id, now);
        return new Session(record, SessionAccess.Exclusive, grant, isNew: false);
    }

    /// <inheritdoc />
    public async Task CommitAsync(Session session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        EnsureStarted();
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

        session.MarkCompleted();
        var now = _time.GetUtcNow();
        var token = session.Lock?.Token ?? 0;
        var update = StoreCodec.FromSession(session, InstanceId, token, now);
        var size = StoreCodec.SizeAfter(session.State, update);
        if (size > SessionOptions.MaxSessionBytes)
        {
            await ReleaseTokenAsync(session.Id, token);
            throw new SessionTooLargeException(session.Id, size, SessionOptions.MaxSessionBytes);
        }
        var committed = await CommitUpdateAsync(update, session.State, release: session.Lock is not null, cancellationToken);
        session.MarkCommitted(committed);
    }

    /// <inheritdoc />
    public async Task ReleaseAsync(Session session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (!session.MarkCompleted())
            return;
        if (session.Lock is { } held)
            await ReleaseTokenAsync(session.Id, held.Token);
    }

    /// <inheritdoc />
    public async Task<bool> RemoveAsync(string id, SessionRemovalReason reason, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        EnsureStarted();
        if (reason == SessionRemovalReason.Expired)
            return ExpireIfOwner(id);

        var record = HoldsHere(id) ? Table.Get(id) : null;
        if (record is null && !_placement.EveryNode)
            record = await FetchLatestAsync(id, null, cancellationToken);
        if (record is null)
        {
            // Created in this request and never committed: only the local lock exists.
            await ReleaseHeldAsync(id);
            return false;
        }
        var token = _heldTokens.TryRemove(id, out var t) ? t : 0;
        var update = new Update
        {
            SessionId = id,
            BaseVersion = record.Version,
            Version = record.Version + 1,
            Token = token,
            Writer = InstanceId,
            Removal = true,
            RemovalReason = (uint)SessionRemovalReason.Invalidated,
            Exists = false,
        };
        await CommitUpdateAsync(update, record, release: true, cancellationToken);
        return true;
    }

    private readonly ConcurrentDictionary<string, long> _heldTokens = new(StringComparer.Ordinal);

    private async Task ReleaseHeldAsync(string id)
    {
        if (_heldTokens.TryRemove(id, out var token))
            await ReleaseTokenAsync(id, token);
    }

    private bool IsExpired(SessionState record, DateTimeOffset now)
    {
        var last = record.LastAccessedAt;
        if (_touched.TryGetValue(record.Id, out var touchedMs))
        {
            var touched = DateTimeOffset.FromUnixTimeMilliseconds(touchedMs);
            if (touched > last)
                last = touched;
        }
        return now >= last + record.IdleTimeout;
    }

    private void Touch(string id, DateTimeOffset now) => _touched[id] = now.ToUnixTimeMilliseconds();

    private void EnsureStarted()
    {
        if (_context is null)
            throw new InvalidOperationException("The store is not started: call SessionManager.StartAsync first.");
    }

    private static Member? ArbiterFor(string id, MembershipView view) => SessionPlacement.ArbiterFor(id, view);

    /// <summary>Whether this node must hold the session now (always, in the replicated store).</summary>
    private bool HoldsHere(string id) => _placement.MustHold(id, _view, InstanceId);

    internal bool MustHold(string id) => HoldsHere(id);

    /// <summary>Publishes a session's new committed state to the table (and the disk copy). Under the gate.</summary>
    private void Put(string id, SessionState record)
    {
        Table.Set(record);
        _disk?.Save(record);
    }

    /// <summary>Takes a session out of the table (and the disk copy). Under the gate.</summary>
    private void Drop(string id)
    {
        if (Table.Remove(id))
            _disk?.Delete(id);
    }

    private bool IsArbiter(string id, MembershipView view) => ArbiterFor(id, view)?.NodeId == InstanceId;

    private int RequiredAcks(MembershipView view) => Math.Min(_options.ReplicationAcks, Math.Max(0, view.Members.Count - 1));

    private void OnTick()
    {
        try
        {
            var now = _time.GetUtcNow();
            ExpireLeases(now);
            RetryStalePending(now);
            if (!_placement.EveryNode)
                TrimCopies(now);
            if (now - _lastTouchFlush >= SessionOptions.EffectiveAccessWindow)
            {
                _lastTouchFlush = now;
                _ = FlushTouchesAsync();
            }
            PruneTombstones(now);
        }
        catch (Exception ex)
        {
            LogTickFailed(ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Leaving the group did not complete cleanly")]
    private partial void LogLeaveFailed(Exception ex);

    [LoggerMessage(Level = LogLevel.Error, Message = "Store maintenance failed; retrying at the next tick")]
    private partial void LogTickFailed(Exception ex);
}
