namespace Multicast.Messaging;

// The one timer: join retries, heartbeats, suspicion, NAKs, delayed acks, tails and send deadlines.
// It runs on a timer thread under the channel lock and never calls the handler.
public sealed partial class ReliableGroupChannel
{
    private long _armedDue = long.MaxValue;

    /// <summary>Makes the timer fire no later than <paramref name="due"/>. Under <see cref="_gate"/>.</summary>
    private void Schedule(long due)
    {
        if (_timer is null || due >= _armedDue || _disposed)
            return;
        _armedDue = due;
        var delay = due - Now;
        _timer.Change(delay <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((double)delay / _time.TimestampFrequency), Timeout.InfiniteTimeSpan);
    }

    private void OnTimer()
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            var now = Now;
            // A timer that fires much later than asked means this node was not scheduled (a pause, a starved
            // machine): that time is not its peers' silence.
            if (_armedDue != long.MaxValue && now - _armedDue > _stallThreshold)
                CreditStall(_armedDue, now, timer: true);
            _armedDue = long.MaxValue;
            _acksDeferred.RemoveAll(static s => s.AckDue == 0);
            var next = now + _heartbeatInterval;
            try
            {
                if (_joining)
                    JoinTick(now, ref next);
                else if (!_left && _view.Id != 0)
                    HeartbeatTick(now, ref next);
                foreach (var peer in _peers.Values)
                {
                    StreamTick(peer.Broadcast, now, ref next);
                    if (peer.Unicast is { } unicast)
                        StreamTick(unicast, now, ref next);
                    if (peer.UnicastSend is { } send)
                        TailTick(send, now, ref next);
                }
                if (_peers.Count > 0)
                    TailTick(_bcast, now, ref next);
                AdmitAllPending();
                NoteMajorityHeard(now);
                next = Math.Min(next, EarliestDeadline());
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Log.TimerFailed(_log, ex);
            }
            Schedule(next);
        }
    }

    private long _majorityHeardAt;

    /// <summary>When this node last had word from a majority of its view, itself included (at most a timer turn old).</summary>
    private void NoteMajorityHeard(long now)
    {
        var needed = _view.Members.Count / 2;
        if (needed == 0 || _left)
        {
            Volatile.Write(ref _majorityHeardAt, now);
            return;
        }
        // Every peer counts: a truncated list would read a large view as unheard and keep its store's lease in question.
        Span<long> heard = _peers.Count <= 256 ? stackalloc long[_peers.Count] : new long[_peers.Count];
        var count = 0;
        foreach (var peer in _peers.Values)
            heard[count++] = peer.LastReceived;
        if (count < needed)
        {
            Volatile.Write(ref _majorityHeardAt, 0);
            return;
        }
        heard[..count].Sort();
        Volatile.Write(ref _majorityHeardAt, heard[count - needed]);
    }

    /// <summary>Whether a majority of this node's view (itself included) was heard from within <paramref name="within"/>,
    /// by this channel's clock. The store serves from its own copy only while this holds (a cut-off member that has
    /// not noticed yet must not), and otherwise confirms its view first. Thread-safe, lock-free.</summary>
    internal bool HeardFromMajorityWithin(TimeSpan within) => HeardFromMajorityWithinTicks(Ticks(within), Now);

    /// <summary><see cref="HeardFromMajorityWithin(TimeSpan)"/> with the window in timestamp units, at <paramref name="now"/>,
    /// a timestamp of this channel's <see cref="Time"/> the caller has read already (a request reads one clock, not two).</summary>
    internal bool HeardFromMajorityWithinTicks(long within, long now) =>
        now - Volatile.Read(ref _majorityHeardAt) <= within;

    private long EarliestDeadline()
    {
        var earliest = _bcast.Pending.First?.Value.Deadline ?? long.MaxValue;
        foreach (var peer in _peers.Values)
        {
            if (peer.UnicastSend?.Pending.First is { } first)
                earliest = Math.Min(earliest, first.Value.Deadline);
        }
        return earliest;
    }

    private void JoinTick(long now, ref long next)
    {
        if (now - _lastJoinSent >= _joinRetry)
        {
            _lastJoinSent = now;
            if (_proposed is { } own)
                SendOwnView(own.Id); // our own first view did not reach our receive thread yet
            else
                SendJoin();
        }
        next = Math.Min(next, _lastJoinSent + _joinRetry);
        // A group that was heard but does not answer (or heartbeats someone forged) delays forming our own view
        // only for a while: then this node starts one, and the groups merge once they hear each other.
        var groupHeard = _heardGroupAt != 0 && now - _heardGroupAt <= _joinTimeout && now - _joinStarted < _joinTimeout + _suspectTimeout;
        if (_proposed is null && now - _joinStarted >= _joinTimeout && !groupHeard)
        {
            // Nobody answered: this node is the first. Others join it (or merge with it) later.
            var local = _local!;
            var ring = _preferredRing >= 0 ? _preferredRing : local.RingIndex;
            Propose(new MembershipView(NextViewId(_view), [ring == local.RingIndex ? local : local with { RingIndex = ring }]));
        }
    }

    private void StreamTick(Internal.ReceiveStream stream, long now, ref long next)
    {
        if (!stream.StartKnown)
        {
            // Asked where it starts and got no answer yet: ask again after the back-off.
            if (stream.StartRequestedAt != 0)
            {
                RequestStart(stream, now);
                next = Math.Min(next, stream.StartRequestedAt + stream.StartRequestBackoff);
            }
            return;
        }
        if (stream.AckDue != 0)
        {
            if (now >= stream.AckDue)
                SendAck(stream, now);
            else
                next = Math.Min(next, stream.AckDue);
        }
        if (stream.HasGap)
        {
            // While the receive thread drains a backlog, a repair may be queued in it: repeated requests wait until
            // it runs empty (it checks them then), unless it has been silent for a retry interval.
            var drainingUntil = _lastReceiveAt + _nakRetry;
            var retries = _receiveIdle || now >= drainingUntil;
            _nakDue = Math.Min(_nakDue, CheckNaks(stream, now, idle: false, retries));
            var naks = stream.Naks;
            var newGapDue = naks.NewGapSince != 0 ? naks.NewGapSince + _reorderGuard : long.MaxValue;
            next = Math.Min(next, Math.Min(newGapDue, retries ? naks.RetryDue : Math.Max(naks.RetryDue, drainingUntil)));
        }
    }

    private void TailTick(Internal.SendStream stream, long now, ref long next)
    {
        if (stream.Unacked.Count == 0 || stream.TailDue == 0 || stream.HighestTransmitted == 0)
            return;
        if (now >= stream.TailDue)
        {
            SendTail(stream);
            stream.TailBackoff = Math.Min(stream.TailBackoff * 2, Math.Max(_tailDelay, _nakRetry));
            stream.TailDue = now + stream.TailBackoff;
        }
        next = Math.Min(next, stream.TailDue);
    }
}
