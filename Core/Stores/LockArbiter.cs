using Multicast.Wire;

namespace Multicast.Stores;

/// <summary>
/// The session locks one arbiter grants: holders, leases, fencing tokens and the queue of waiters. No I/O: every
/// operation returns what the caller must deliver (grants for waiters, refusals), so the rules are tested on a manual
/// clock. Not thread-safe: the store calls it under its gate.
/// </summary>
/// <remarks>
/// <para>Tokens only grow per session: a new token is above every token this arbiter granted, the token of the last
/// write, and <c>floor</c> — the first token of the current primary epoch (<see cref="FirstTokenOf"/>), which is above
/// anything an arbiter of an earlier epoch could have granted.</para>
/// <para>A lock is free once released, once its lease ends, or once its holder leaves the view.</para>
/// </remarks>
internal sealed class LockArbiter(TimeProvider time, TimeSpan lease)
{
    private const int EpochShift = 32;

    private readonly Dictionary<string, LockState> _states = new(StringComparer.Ordinal);
    // Leases by expiry; an entry is stale when its state was released or re-granted since (checked on dequeue).
    private readonly PriorityQueue<(LockState State, long Token), DateTimeOffset> _leases = new();

    /// <summary>The first token an arbiter may grant in <paramref name="epoch"/>.</summary>
    public static long FirstTokenOf(long epoch) => (epoch + 1) << EpochShift;

    /// <summary>How many sessions have lock state (held, waited for, or a grant not yet committed).</summary>
    public int Count => _states.Count;

    /// <summary>A lock request at this arbiter.</summary>
    /// <param name="id">The session.</param>
    /// <param name="waiter">Who asks (a remote request, or a local one with its completion).</param>
    /// <param name="policy">What to do when it is held.</param>
    /// <param name="recordToken">The token of the session's last committed write (0 when none).</param>
    /// <param name="floor">The smallest token the current epoch may grant.</param>
    /// <returns>A grant, a refusal naming the holder, or <see langword="null"/> when the request waits in the queue.</returns>
    public LockDecision? Acquire(string id, LockWaiter waiter, ConflictPolicy policy, long recordToken, long floor)
    {
        var st = GetOrAdd(id);
        ExpireIfDue(st, time.GetUtcNow());
        if (st.Holder is null)
            return Grant(st, waiter.Node, recordToken, floor);
        if (policy == ConflictPolicy.Wait)
        {
            st.Waiters.AddLast(waiter);
            return null;
        }
        return LockDecision.HeldBy(st.Holder, st.Token);
    }

    /// <summary>Releases a lock the holder gives back; the next waiter, if any, gets it.</summary>
    /// <returns>The grants to deliver (at most one).</returns>
    public List<(LockWaiter Waiter, LockDecision Decision)> Release(string id, string holder, long token, long recordToken, long floor)
    {
        var delivered = new List<(LockWaiter, LockDecision)>();
        if (!_states.TryGetValue(id, out var st) || st.Holder != holder || st.Token != token)
            return delivered;
        st.Holder = null;
        GrantNext(st, recordToken, floor, delivered);
        Prune(st, recordToken);
        return delivered;
    }

    /// <summary>Ends the leases that are over and grants the next waiters.</summary>
    public List<(LockWaiter Waiter, LockDecision Decision)> ExpireLeases(Func<string, long> recordToken, long floor)
    {
        var delivered = new List<(LockWaiter, LockDecision)>();
        var now = time.GetUtcNow();
        while (_leases.TryPeek(out var entry, out var expires) && expires <= now)
        {
            _leases.Dequeue();
            var st = entry.State;
            if (st.Holder is null || st.Token != entry.Token || st.ExpiresAt > now)
                continue;
            st.Holder = null;
            var written = recordToken(st.Id);
            GrantNext(st, written, floor, delivered);
            Prune(st, written);
        }
        return delivered;
    }

    /// <summary>Frees the locks of holders that left the view and drops their queued requests.</summary>
    public List<(LockWaiter Waiter, LockDecision Decision)> DropNodes(Func<string, bool> gone, Func<string, long> recordToken, long floor)
    {
        var delivered = new List<(LockWaiter, LockDecision)>();
        foreach (var st in _states.Values.ToArray())
        {
            for (var node = st.Waiters.First; node is not null;)
            {
                var next = node.Next;
                if (gone(node.Value.Node))
                    st.Waiters.Remove(node);
                node = next;
            }
            if (st.Holder is { } holder && gone(holder))
            {
                st.Holder = null;
                var written = recordToken(st.Id);
                GrantNext(st, written, floor, delivered);
                Prune(st, written);
            }
        }
        return delivered;
    }

    /// <summary>Removes a waiting request (it gave up); false when it was not waiting.</summary>
    public bool Cancel(string id, string node, ulong requestId)
    {
        if (!_states.TryGetValue(id, out var st))
            return false;
        for (var w = st.Waiters.First; w is not null; w = w.Next)
        {
            if (w.Value.Node == node && w.Value.RequestId == requestId && w.Value.Local is null)
            {
                st.Waiters.Remove(w);
                return true;
            }
        }
        return false;
    }

    /// <summary>Removes a local waiting request by its completion.</summary>
    public bool Cancel(string id, TaskCompletionSource<LockDecision> local)
    {
        if (!_states.TryGetValue(id, out var st))
            return false;
        for (var w = st.Waiters.First; w is not null; w = w.Next)
        {
            if (ReferenceEquals(w.Value.Local, local))
            {
                st.Waiters.Remove(w);
                return true;
            }
        }
        return false;
    }

    /// <summary>Whether a commit from <paramref name="writer"/> under <paramref name="token"/> may be applied.</summary>
    /// <remarks>It may when the writer holds the lock with that token, or when the lock is free, no write used the token
    /// yet and no token was granted after it (its lease ended, or an earlier arbiter granted it, and nobody took the
    /// lock since).</remarks>
    public LockCheck Check(string id, string writer, long token, long recordToken)
    {
        _states.TryGetValue(id, out var st);
        if (st?.Holder is { } holder)
            return holder == writer && st.Token == token ? LockCheck.Holds : LockCheck.Stale(st.Token);
        // A grant not used by a write yet (token above the last write's), and none granted after it.
        var last = st?.LastToken ?? 0;
        return token > recordToken && token >= last ? LockCheck.Unclaimed : LockCheck.Stale(Math.Max(last, recordToken));
    }

    /// <summary>The holder's lock state for a handover to the session's next arbiter, removed from here with its
    /// waiters (who must ask the next arbiter).</summary>
    public (LockEntry? Entry, List<LockWaiter> Waiters) Export(string id)
    {
        if (!_states.Remove(id, out var st))
            return (null, []);
        var entry = new LockEntry
        {
            SessionId = id,
            Holder = st.Holder ?? string.Empty,
            Token = st.Holder is null ? 0 : st.Token,
            ExpiresMs = st.Holder is null ? 0 : st.ExpiresAt.ToUnixTimeMilliseconds(),
            LastToken = st.LastToken,
        };
        var waiters = st.Waiters.ToList();
        st.Waiters.Clear();
        return (entry, waiters);
    }

    /// <summary>Takes over a lock a previous arbiter granted (recovery): a live holder keeps it until its lease ends.</summary>
    public void Import(LockEntry entry, bool holderInView)
    {
        var st = GetOrAdd(entry.SessionId);
        st.LastToken = Math.Max(st.LastToken, Math.Max(entry.LastToken, entry.Token));
        var expires = DateTimeOffset.FromUnixTimeMilliseconds(entry.ExpiresMs);
        if (holderInView && entry.Holder.Length > 0 && expires > time.GetUtcNow() && (st.Holder is null || entry.Token > st.Token))
        {
            st.Holder = entry.Holder;
            st.Token = entry.Token;
            st.ExpiresAt = expires;
            _leases.Enqueue((st, st.Token), expires);
        }
    }

    /// <summary>The session is gone: its lock state is dropped; its waiters must be told.</summary>
    public List<LockWaiter> Forget(string id)
    {
        if (!_states.Remove(id, out var st))
            return [];
        var waiters = st.Waiters.ToList();
        st.Waiters.Clear();
        return waiters;
    }

    /// <summary>Every session with lock state (for a handover of all of them).</summary>
    public IReadOnlyCollection<string> Sessions => _states.Keys;

    /// <summary>The current holder, or <see langword="null"/>.</summary>
    public string? HolderOf(string id) => _states.TryGetValue(id, out var st) ? st.Holder : null;

    private LockState GetOrAdd(string id)
    {
        if (!_states.TryGetValue(id, out var st))
        {
            st = new LockState(id);
            _states[id] = st;
        }
        return st;
    }

    private LockDecision Grant(LockState st, string holder, long recordToken, long floor)
    {
        st.Holder = holder;
        st.Token = Math.Max(Math.Max(st.LastToken, recordToken) + 1, floor);
        st.LastToken = st.Token;
        st.ExpiresAt = time.GetUtcNow() + lease;
        _leases.Enqueue((st, st.Token), st.ExpiresAt);
        return LockDecision.Granted(holder, st.Token, st.ExpiresAt);
    }

    private void GrantNext(LockState st, long recordToken, long floor, List<(LockWaiter, LockDecision)> delivered)
    {
        if (st.Holder is null && st.Waiters.First is { } first)
        {
            st.Waiters.RemoveFirst();
            delivered.Add((first.Value, Grant(st, first.Value.Node, recordToken, floor)));
        }
    }

    private void ExpireIfDue(LockState st, DateTimeOffset now)
    {
        if (st.Holder is not null && now >= st.ExpiresAt)
            st.Holder = null;
    }

    // A free lock with no waiters whose last grant was committed adds nothing the session's record does not carry.
    private void Prune(LockState st, long recordToken)
    {
        if (st.Holder is null && st.Waiters.Count == 0 && st.LastToken <= recordToken)
            _states.Remove(st.Id);
    }

    private sealed class LockState(string id)
    {
        public string Id { get; } = id;
        public string? Holder { get; set; }
        public long Token { get; set; }
        public DateTimeOffset ExpiresAt { get; set; }
        public long LastToken { get; set; }
        public LinkedList<LockWaiter> Waiters { get; } = new();
    }
}

/// <summary>A queued lock request: a remote one gets a reply, a local one completes <see cref="Local"/>.</summary>
internal sealed record LockWaiter(string SessionId, string Node, ulong RequestId, long KnownVersion, TaskCompletionSource<LockDecision>? Local);

/// <summary>What the arbiter decided for a lock request.</summary>
internal sealed record LockDecision(bool IsGranted, string Holder, long Token, DateTimeOffset ExpiresAt)
{
    public static LockDecision Granted(string holder, long token, DateTimeOffset expiresAt) => new(true, holder, token, expiresAt);

    public static LockDecision HeldBy(string holder, long token) => new(false, holder, token, default);

    /// <summary>For a local waiter: the arbiter moved (or stopped arbitrating); ask again.</summary>
    public static readonly LockDecision Retry = new(false, string.Empty, 0, default);

    /// <summary>For a local waiter: the session was removed while it waited.</summary>
    public static readonly LockDecision Gone = new(false, string.Empty, -1, default);
}

/// <summary>Whether a commit's token is current.</summary>
internal readonly record struct LockCheck(bool Allowed, long CurrentToken)
{
    public static LockCheck Holds => new(true, 0);

    public static LockCheck Unclaimed => new(true, 0);

    public static LockCheck Stale(long current) => new(false, current);
}
