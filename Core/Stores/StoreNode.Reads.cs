using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

// Reads: read-only finds (and every find when nothing is locked), read requests at the arbiter, and the batched
// last-access times that keep expiry consistent without traffic per request.
internal sealed partial class StoreNode
{
    private readonly ConcurrentDictionary<string, long> _touched = new(StringComparer.Ordinal);
    private DateTimeOffset _lastTouchFlush;

    private static readonly Task<Session?> NoSession = Task.FromResult<Session?>(null);

    public Task<Session?> FindAsync(string id, SessionAccess access, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        EnsureStarted();
        if (access == SessionAccess.None)
            return NoSession;
        if (access == SessionAccess.Exclusive && _options.Locking == LockingMode.Pessimistic)
            return FindExclusiveAsync(id, cancellationToken);
        var now = _clock.Now();
        if (TryReadHere(id, access, now, out var state))
            return Found(state, access, now.Utc);
        return FindSharedAsync(id, access, now.Utc, cancellationToken);
    }

    private async Task<Session?> FindSharedAsync(string id, SessionAccess access, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var epoch = await WaitServingAsync(cancellationToken);
        var state = await ReadLatestAsync(id, epoch, cancellationToken);
        return await Found(state, access, now);
    }

    /// <summary>The find's answer for the state it read: none when absent or expired, else the session, its access
    /// recorded. A read-only view cannot change, so the requests that read one version share one view and its completed
    /// task: a read on the node that answers from its table allocates nothing.</summary>
    private Task<Session?> Found(SessionState? state, SessionAccess access, DateTimeOffset now)
    {
        if (state is null)
            return NoSession;
        var ms = now.ToUnixTimeMilliseconds();
        var recorded = state.RecordedAccessMs;
        if (recorded < ms)
        {
            // One look-up of the access-time table serves the expiry check and the touch.
            var seen = _touched.TryGetValue(state.Id, out var touched);
            if (IsExpired(state, now, seen ? touched : null))
                return NoSession;
            if (!seen || touched < ms)
                Touch(state.Id, ms);
            state.RecordedAccessMs = ms;
        }
        else if (IsExpired(state, now, recorded))
        {
            // This millisecond's access is recorded already (the table holds it or later): nothing to look up or record.
            return NoSession;
        }
        return access == SessionAccess.ReadOnly ? state.ReadOnlyFind : Task.FromResult<Session?>(new Session(state, access));
    }

    /// <summary>
    /// A read this node can answer from its own table at once, without a task or a lock: a Local read of a copy it holds,
    /// or a Latest read of a session it arbitrates in a serving epoch whose lease is not in question (the checks
    /// <see cref="WaitServingAsync"/> and <see cref="ReadLatestAsync"/> make, in the same order). Anything else waits.
    /// </summary>
    private bool TryReadHere(string id, SessionAccess access, RequestTime now, out SessionState? state)
    {
        state = null;
        if (_options.ReadConsistency == ReadConsistency.Local && access == SessionAccess.ReadOnly && HoldsHere(id, _view) && !_excluded)
        {
            // This node's copy, with no network and no quorum check: possibly stale, never partial.
            state = Table.Get(id);
            return true;
        }
        var epoch = _epoch;
        if (Volatile.Read(ref _stopped) != 0 || !epoch.Serving || _excluded || epoch.Decision is { IsPrimary: false }
            || epoch.View.Members.Count > 1 && StallSuspected(now))
            return false;
        if (!IsArbiter(id, epoch.View) || epoch.Reconciliation?.Blocks(id) != false || !AnswersFromTable(id, epoch.View))
            return false;
        state = Table.Get(id);
        return true;
    }

    /// <summary>The latest committed state: from this node's table when it arbitrates the session, else from the arbiter
    /// (which sends the whole session only when this node's copy is behind).</summary>
    private async Task<SessionState?> ReadLatestAsync(string id, EpochState epoch, CancellationToken cancellationToken)
    {
        if (IsArbiter(id, epoch.View))
        {
            if (epoch.Reconciliation is { } r && r.Blocks(id))
                await WaitRecoveredAsync(r.Recovered.Task, cancellationToken);
            if (AnswersFromTable(id))
                return Table.Get(id);
        }
        return await ReadFromArbiterAsync(id, HoldsHere(id, epoch.View) ? Table.Get(id) : null, cancellationToken);
    }

    /// <summary>Whether this node, as the session's arbiter in its current view and epoch with nothing to recover for it,
    /// answers a Latest read from its own table (every read path asks this last, just before it reads).</summary>
    private bool AnswersFromTable(string id) => IsArbiter(id, _view) && _epoch.Reconciliation?.Blocks(id) == false;

    /// <summary><see cref="AnswersFromTable(string)"/> for a caller that found this node the arbiter in
    /// <paramref name="arbitratedIn"/>: when the current view is still that one, the ring is not walked again.</summary>
    private bool AnswersFromTable(string id, MembershipView arbitratedIn) =>
        (ReferenceEquals(_view, arbitratedIn) || IsArbiter(id, _view)) && _epoch.Reconciliation?.Blocks(id) == false;

    private async Task<SessionState?> ReadFromArbiterAsync(string id, SessionState? known, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + _options.LockWaitTimeout;
        var backoff = new Backoff(_time);
        while (true)
        {
            var epoch = await WaitServingAsync(cancellationToken);
            var arbiter = ReplicationStrategy.ArbiterOf(id, epoch.View);
            if (arbiter is null)
                return null;
            if (arbiter.NodeId == InstanceId)
            {
                lock (_gate)
                {
                    if (_epoch.Serving && AnswersFromTable(id))
                        return Table.Get(id);
                }
            }
            else
            {
                var callId = _calls.NextId();
                try
                {
                    var request = new Envelope { ReadRequest = new ReadRequest { RequestId = callId, SessionId = id, KnownVersion = known?.Version ?? 0, KnownEpoch = known?.Epoch ?? 0 } };
                    var reply = (await _calls.CallAsync(arbiter.NodeId, callId, request, _options.CommitTimeout, cancellationToken)).ReadReply!;
                    switch (reply.Status)
                    {
                        case ReadStatus.NotFound:
                            return null;
                        case ReadStatus.Unchanged when known is not null:
                            return known;
                        case ReadStatus.Found when reply.Copy is { } copy:
                            if (HoldsHere(id, _view))
                            {
                                lock (_gate)
                                    Applier.ApplyCopy(copy, authoritative: false, _epoch.Epoch);
                            }
                            var latest = StoreCodec.FromCopy(copy);
                            return Table.Get(id) is { } held && held.Version >= latest.Version && held.Epoch >= latest.Epoch ? held : latest;
                    }
                }
                catch (Exception ex) when (ex is MemberGoneException or TimeoutException)
                {
                    // The view changed under the call: ask the next arbiter.
                }
            }
            if (_time.GetUtcNow() > deadline)
                throw new ClusterUnavailableException(ClusterStoreStatus.Joining, $"No node could serve session '{id}' in time.", RetryAfter);
            await backoff.WaitAsync(cancellationToken);
        }
    }

    /// <summary>A read at this node as the arbiter, or a replica's request for a delta's base (receive thread).</summary>
    private void OnReadRequest(string from, ReadRequest request)
    {
        var reply = new ReadReply { RequestId = request.RequestId };
        var stalled = !request.ForHolder && StallSuspected();
        lock (_gate)
        {
            var id = request.SessionId;
            var epoch = _epoch;
            if (!request.ForHolder && (!epoch.Serving || !IsArbiter(id, _view) || epoch.Reconciliation?.Blocks(id) != false || stalled && RefuseUntilConfirmed(epoch)))
            {
                reply.Status = epoch.Decision is { IsPrimary: false } ? ReadStatus.Unavailable : ReadStatus.NotArbiter;
            }
            else if (Table.Get(id) is not { } state)
            {
                reply.Status = ReadStatus.NotFound;
                if (request.ForHolder && Applier.TombstoneOf(id) is { } dead)
                    reply.Copy = TombstoneCopy(id, dead);
            }
            else if (!request.ForHolder && state.Version == request.KnownVersion && state.Epoch == request.KnownEpoch)
            {
                reply.Status = ReadStatus.Unchanged;
            }
            else
            {
                reply.Status = ReadStatus.Found;
                reply.Copy = StoreCodec.ToCopy(state);
            }
        }
        Send(from, new Envelope { ReadReply = reply });
    }

    private bool IsExpired(SessionState state, DateTimeOffset now) =>
        IsExpired(state, now, _touched.TryGetValue(state.Id, out var touchedMs) ? touchedMs : null);

    /// <summary>Whether the session is idle past its timeout, counting the access time this node recorded for it.</summary>
    private static bool IsExpired(SessionState state, DateTimeOffset now, long? touchedMs)
    {
        var last = state.LastAccessedAt;
        if (touchedMs is { } ms)
        {
            var touched = DateTimeOffset.FromUnixTimeMilliseconds(ms);
            if (touched > last)
                last = touched;
        }
        return now >= last + state.IdleTimeout;
    }

    /// <summary>Records a request's access time (Unix ms) for the next flush; never moves it back. Most reads of a busy
    /// session fall in a millisecond already recorded, which the caller sees with a lock-free look-up and skips this.</summary>
    private void Touch(string id, long ms)
    {
        while (true)
        {
            if (_touched.TryGetValue(id, out var known))
            {
                if (known >= ms || _touched.TryUpdate(id, ms, known))
                    return;
            }
            else if (_touched.TryAdd(id, ms))
            {
                return;
            }
        }
    }

    private void OnTouch(Touch touch)
    {
        lock (_gate)
        {
            foreach (var t in touch.Entries)
            {
                if (Table.Get(t.SessionId) is { } state && state.LastAccessedAt.ToUnixTimeMilliseconds() < t.LastAccessMs)
                    Table.Set(state.WithLastAccess(DateTimeOffset.FromUnixTimeMilliseconds(t.LastAccessMs)));
            }
        }
    }

    private void FlushTouchesIfDue()
    {
        var now = _time.GetUtcNow();
        if (now - _lastTouchFlush < SessionOptions.EffectiveAccessWindow)
            return;
        _lastTouchFlush = now;
        Track(FlushTouchesAsync());
    }

    /// <summary>Announces the last-access times gathered since the previous flush, in batches.</summary>
    private async Task FlushTouchesAsync()
    {
        if (_context is null || _touched.IsEmpty)
            return;
        var batch = new Touch();
        foreach (var (id, ms) in _touched)
        {
            // A read on a node that does not hold the session (ring) still keeps it alive where it is held.
            var state = Table.Get(id);
            if (state is not null ? state.LastAccessedAt.ToUnixTimeMilliseconds() >= ms : _replication.EveryMember)
            {
                _touched.TryRemove(new KeyValuePair<string, long>(id, ms));
                continue;
            }
            if (state is null)
                _touched.TryRemove(new KeyValuePair<string, long>(id, ms));
            batch.Entries.Add(new TouchEntry { SessionId = id, LastAccessMs = ms });
        }
        if (batch.Entries.Count == 0)
            return;
        OnTouch(batch);
        try
        {
            foreach (var chunk in batch.Entries.Chunk(2000))
                await _channel.BroadcastAsync(StoreCodec.Encode(new Envelope { Touch = new Touch { Entries = [.. chunk] } }), _stopping.Token);
        }
        catch (Exception ex) when (ex is SendWindowFullException or InvalidOperationException or ObjectDisposedException or OperationCanceledException)
        {
            LogTouchFailed(ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Announcing last-access times failed; the next flush retries")]
    private partial void LogTouchFailed(Exception ex);
}
