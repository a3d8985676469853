using System.Threading.Channels;
using Multicast.Messaging;
using Multicast.Sessions;

namespace Multicast.Tests.PublicStore;

/// <summary>
/// An in-process stand-in for an external session server (Redis, a database): the one place the sessions live, shared
/// by every node's <see cref="ServerClusterStore"/>. Per session it keeps the committed state, a lock with a lease and a
/// fencing token (a per-session counter, as <c>INCR</c> would keep it), and a tombstone once removed; it pushes every
/// decision to the connected nodes in order (pub/sub), so their session tables stay current, and it keeps the list of
/// connected nodes, which is the cluster's membership view. Each call is atomic, as a server-side script would be.
/// </summary>
/// <remarks>Written only against Multicast.Core's public API: this assembly cannot see Core's internals.
/// <see cref="IsAvailable"/> set to <see langword="false"/> stands for a server that cannot be reached: every call then
/// fails before doing anything.</remarks>
public sealed class SessionServer : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly List<Connection> _connections = []; // oldest first: the view's order
    private readonly Dictionary<string, int> _ringIndexes = new(StringComparer.Ordinal); // kept across reconnects
    private readonly List<WriteConcern> _concerns = [];
    private long _viewId;
    private long _incarnations;
    private volatile bool _available = true;
    private bool _disposed;
    private int _loseReplies; // 0: none; 1: lose the next commit's answer; 2: and then be unreachable

    /// <summary>Creates a server.</summary>
    /// <param name="time">The server's clock, for leases and expiry.</param>
    public SessionServer(TimeProvider? time = null) => Time = time ?? TimeProvider.System;

    /// <summary>The server's clock.</summary>
    public TimeProvider Time { get; }

    /// <summary>Whether the server can be reached; <see langword="false"/> makes every call fail without effect.</summary>
    public bool IsAvailable
    {
        get => _available;
        set => _available = value;
    }

    /// <summary>The next commit is applied but its answer is lost (the connection drops after the server applied it):
    /// the node must find out whether it was applied. With <paramref name="thenUnavailable"/> the server also becomes
    /// unreachable (<see cref="IsAvailable"/> false), so the node cannot.</summary>
    public void LoseNextCommitReply(bool thenUnavailable = false) => Volatile.Write(ref _loseReplies, thenUnavailable ? 2 : 1);

    /// <summary>How many live sessions the server holds.</summary>
    public int SessionCount
    {
        get
        {
            lock (_gate)
                return _entries.Values.Count(e => e.State is not null);
        }
    }

    /// <summary>Connects a node: it joins the view (a node id already connected is a restart: its old connection is
    /// dropped first) and from now on receives every decision, in order, on <paramref name="inbox"/>.</summary>
    internal ServerSnapshot Connect(string nodeId, string publicAddress, ChannelWriter<ServerNotification> inbox)
    {
        EnsureAvailable();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connections.Find(c => c.Member.NodeId == nodeId) is { } old)
                DisconnectLocked(old);
            var member = new Member(nodeId, ++_incarnations, $"server:{nodeId}", publicAddress) { RingIndex = RingIndexFor(nodeId) };
            _connections.Add(new Connection(member, inbox));
            var view = PublishViewLocked();
            var sessions = _entries.Values.Where(e => e.State is not null).Select(e => e.State!).ToArray();
            return new ServerSnapshot(member, view, sessions);
        }
    }

    /// <summary>A node leaves (or its connection closed): its locks are freed at once and it leaves the view. Idempotent.</summary>
    internal void Disconnect(string nodeId, long incarnation)
    {
        lock (_gate)
        {
            if (_connections.Find(c => c.Member.NodeId == nodeId && c.Member.Incarnation == incarnation) is { } connection)
                DisconnectLocked(connection);
        }
    }

    /// <summary>Takes the session's lock for <paramref name="nodeId"/> with a lease, and reads the state under it.</summary>
    internal LockReply TryLock(string id, string nodeId, TimeSpan lease, TimeSpan accessWindow)
    {
        EnsureAvailable();
        lock (_gate)
        {
            var now = Time.GetUtcNow();
            if (!_entries.TryGetValue(id, out var entry) || entry.State is null || entry.State.IsExpired(now))
                return new LockReply(LockOutcome.NotFound, null, 0, default, string.Empty, string.Empty, null);
            if (entry.Lock is { } held && held.ExpiresAt > now)
            {
                entry.WakeAtLeaseEnd(Time, () => OnLeaseEnded(id));
                return new LockReply(LockOutcome.Held, null, held.Token, held.ExpiresAt, held.Holder, AddressOf(held.Holder), entry.Freed.Task);
            }
            if (entry.Lock is not null)
                entry.Free(); // the lease ended unclaimed
            var token = ++entry.LastToken;
            entry.Lock = new Grant(nodeId, token, now + lease);
            Touch(entry, now, accessWindow);
            return new LockReply(LockOutcome.Granted, entry.State, token, now + lease, nodeId, string.Empty, null);
        }
    }

    /// <summary>The session's committed state (no lock), or null.</summary>
    internal SessionState? Read(string id, TimeSpan accessWindow)
    {
        EnsureAvailable();
        lock (_gate)
        {
            var now = Time.GetUtcNow();
            if (!_entries.TryGetValue(id, out var entry) || entry.State is null || entry.State.IsExpired(now))
                return null; // idle past its timeout: gone for requests, whether or not the owner's sweep removed it yet
            Touch(entry, now, accessWindow);
            return entry.State;
        }
    }

    /// <summary>Frees the lock if <paramref name="nodeId"/> still holds it under <paramref name="token"/>.</summary>
    internal void Release(string id, string nodeId, long token)
    {
        EnsureAvailable();
        lock (_gate)
        {
            if (_entries.TryGetValue(id, out var entry) && entry.Lock is { } held && held.Holder == nodeId && held.Token == token)
                entry.Free();
        }
    }

    /// <summary>Applies a commit as a whole or not at all, then pushes the new state to every node.</summary>
    internal WriteReply Commit(CommitRequest request)
    {
        EnsureAvailable();
        lock (_gate)
        {
            var now = Time.GetUtcNow();
            _entries.TryGetValue(request.Id, out var entry);
            if (entry?.Removed == true || (entry?.State is null && !request.IsNew))
                return new WriteReply(WriteOutcome.NotFound);
            var current = entry?.State;
            if (current is not null && request.Locked)
            {
                // Fencing: only the latest token granted may write; a lease that ended unclaimed still lets its holder commit.
                if (request.IsNew || request.Token != entry!.LastToken || request.Base.Version != current.Version ||
                    (entry.Lock is { } held && held.Holder != request.Writer))
                    return new WriteReply(WriteOutcome.StaleToken, Detail: entry!.LastToken);
            }
            else if (current is not null && request.IsNew)
            {
                return new WriteReply(WriteOutcome.StaleToken, Detail: entry!.LastToken); // an id collision: never overwrite
            }
            var changes = new SessionChanges(request.Set, request.Removed, request.IdleTimeout);
            var next = (current ?? request.Base).Apply(changes, (current?.Version ?? 0) + 1, request.Writer, request.Token, now);
            entry ??= _entries[request.Id] = new Entry();
            if (next.Size > request.MaxSessionBytes)
            {
                ReleaseLocked(entry, request);
                if (entry.State is null)
                    _entries.Remove(request.Id);
                return new WriteReply(WriteOutcome.TooLarge, Detail: next.Size);
            }
            entry.State = next;
            entry.PublishedAccess = next.LastAccessedAt;
            ReleaseLocked(entry, request);
            var concern = NewConcernLocked(request.Writer, request.ReplicationAcks);
            PublishLocked(new StateNotification(next, request.Writer, concern));
            var applied = new WriteReply(WriteOutcome.Applied, next, Concern: concern);
            entry.Remember(request.CommitId, applied);
            if (Interlocked.Exchange(ref _loseReplies, 0) is var lose and > 0)
            {
                _available = lose == 1;
                throw new SessionServerReplyLostException();
            }
            return applied;
        }
    }

    /// <summary>Whether the commit with this id was applied (the server remembers each session's last few): its answer,
    /// or null when it was not.</summary>
    internal WriteReply? OutcomeOf(string id, Guid commitId)
    {
        EnsureAvailable();
        lock (_gate)
            return _entries.TryGetValue(id, out var entry) ? entry.Recalled(commitId) : null;
    }

    /// <summary>Removes a session for good (a tombstone stays), then pushes the removal to every node.</summary>
    /// <param name="id">The session.</param>
    /// <param name="nodeId">The node that removes it.</param>
    /// <param name="token">The lock token the node's request holds, or 0.</param>
    /// <param name="reason">Invalidated: refused under a stale token or while another node holds the lock. Expired:
    /// declined unless the session is idle past its timeout by the server's clock and unlocked.</param>
    /// <param name="replicationAcks">The write concern.</param>
    internal WriteReply Remove(string id, string nodeId, long token, SessionRemovalReason reason, int replicationAcks)
    {
        EnsureAvailable();
        lock (_gate)
        {
            var now = Time.GetUtcNow();
            if (!_entries.TryGetValue(id, out var entry) || entry.State is not { } current)
                return new WriteReply(WriteOutcome.NotFound);
            var lockedByOther = entry.Lock is { } held && held.ExpiresAt > now && (held.Holder != nodeId || held.Token != token);
            if (reason == SessionRemovalReason.Expired && (!current.IsExpired(now) || lockedByOther))
                return new WriteReply(WriteOutcome.Declined);
            if (reason == SessionRemovalReason.Invalidated && ((token != 0 && token != entry.LastToken) || lockedByOther))
                return new WriteReply(WriteOutcome.StaleToken, Detail: entry.LastToken);
            entry.State = null;
            entry.Removed = true; // a real server would drop the tombstone once no copy can come back (after the idle timeout)
            entry.Free();
            var concern = NewConcernLocked(nodeId, replicationAcks);
            PublishLocked(new RemovalNotification(id, current.Version + 1, nodeId, reason, concern));
            return new WriteReply(WriteOutcome.Applied, Concern: concern);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
            foreach (var entry in _entries.Values)
                entry.Free();
        }
    }

    private void EnsureAvailable()
    {
        if (!_available)
            throw new SessionServerUnavailableException();
    }

    private int RingIndexFor(string nodeId)
    {
        if (_ringIndexes.TryGetValue(nodeId, out var kept))
            return kept;
        // Unique among the nodes the server has seen, as the channel's coordinator assigns them.
        var index = Member.RingIndexOf(nodeId);
        while (_ringIndexes.ContainsValue(index))
            index = (index + 1) & 0xFFFF;
        return _ringIndexes[nodeId] = index;
    }

    private string AddressOf(string nodeId) => _connections.Find(c => c.Member.NodeId == nodeId)?.Member.PublicAddress ?? string.Empty;

    private void DisconnectLocked(Connection connection)
    {
        _connections.Remove(connection);
        var nodeId = connection.Member.NodeId;
        foreach (var entry in _entries.Values)
        {
            if (entry.Lock?.Holder == nodeId)
                entry.Free();
        }
        foreach (var concern in _concerns)
            concern.Forget(nodeId);
        PublishViewLocked();
    }

    private MembershipView PublishViewLocked()
    {
        var view = new MembershipView(++_viewId, [.. _connections.Select(c => c.Member)]);
        PublishLocked(new ViewNotification(view));
        return view;
    }

    private WriteConcern NewConcernLocked(string writer, int required)
    {
        _concerns.RemoveAll(c => c.Done.IsCompleted);
        var concern = new WriteConcern(writer, _connections.Select(c => c.Member.NodeId).Where(n => n != writer), required);
        if (!_connections.Exists(c => c.Member.NodeId == writer))
            concern.Forget(writer); // a writer that is no longer connected gets no notification to wait for
        _concerns.Add(concern);
        return concern;
    }

    /// <summary>Pushes to every connected node; under the gate, so every node sees the server's order.</summary>
    private void PublishLocked(ServerNotification notification)
    {
        foreach (var connection in _connections)
            connection.Inbox.TryWrite(notification); // unbounded; a closed inbox belongs to a node that is leaving
    }

    /// <summary>Records a request's access; tells the nodes only once per access window (reads cost no traffic).</summary>
    private void Touch(Entry entry, DateTimeOffset now, TimeSpan accessWindow)
    {
        if (entry.State is not { } state || now <= state.LastAccessedAt)
            return;
        entry.State = state.WithLastAccess(now);
        if (now - entry.PublishedAccess < accessWindow)
            return;
        entry.PublishedAccess = now;
        PublishLocked(new StateNotification(entry.State, string.Empty, null));
    }

    private static void ReleaseLocked(Entry entry, CommitRequest request)
    {
        if (entry.Lock is { } held && held.Holder == request.Writer && held.Token == request.Token)
            entry.Free();
    }

    private void OnLeaseEnded(string id)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(id, out var entry) && entry.Lock is { } held && held.ExpiresAt <= Time.GetUtcNow())
                entry.Free();
        }
    }

    private sealed record Connection(Member Member, ChannelWriter<ServerNotification> Inbox);

    private sealed record Grant(string Holder, long Token, DateTimeOffset ExpiresAt);

    /// <summary>One session's record on the server.</summary>
    private sealed class Entry
    {
        private const int Remembered = 8;
        private readonly Queue<(Guid Id, WriteReply Reply)> _recent = new();
        private ITimer? _leaseTimer;

        public SessionState? State { get; set; }

        public bool Removed { get; set; }

        public Grant? Lock { get; set; }

        /// <summary>The last fencing token granted; the next grant takes one more.</summary>
        public long LastToken { get; set; }

        /// <summary>The access time the nodes were last told.</summary>
        public DateTimeOffset PublishedAccess { get; set; }

        /// <summary>Completes when the lock is next freed: wakes the waiters (never polled).</summary>
        public TaskCompletionSource Freed { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Remember(Guid commitId, WriteReply reply)
        {
            if (_recent.Count == Remembered)
                _recent.Dequeue();
            _recent.Enqueue((commitId, reply));
        }

        public WriteReply? Recalled(Guid commitId)
        {
            foreach (var (id, reply) in _recent)
            {
                if (id == commitId)
                    return reply;
            }
            return null;
        }

        /// <summary>Frees the lock (the token counter stays) and wakes the waiters.</summary>
        public void Free()
        {
            Lock = null;
            _leaseTimer?.Dispose();
            _leaseTimer = null;
            var freed = Freed;
            Freed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            freed.TrySetResult();
        }

        /// <summary>Waiters also wake when the lease ends: one timer at its end, on the server's clock.</summary>
        public void WakeAtLeaseEnd(TimeProvider time, Action ended)
        {
            if (_leaseTimer is not null || Lock is not { } held)
                return;
            var due = held.ExpiresAt - time.GetUtcNow();
            _leaseTimer = time.CreateTimer(_ => ended(), null, due > TimeSpan.Zero ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }
}
