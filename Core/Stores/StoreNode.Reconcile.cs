using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

// Reconciliation after each new primary epoch: the state transfer of a joiner, the catch-up of a node that was cut
// off, the recovery of sessions whose arbiter changed, and the re-replication to new holders are one mechanism.
//
//  1. Every member sends each arbiter a digest of what it holds of the sessions that arbiter must recover (whose
//     arbiter changed, or is catching up), and the locks it granted for them; a catching-up ("fresh") member sends
//     everything it holds.
//  2. Each arbiter, once it has every member's digest, takes per session the newest (epoch, version) any member holds
//     (a tie goes to a member of the previous primary), fetches it if
//     another member holds it, and takes over the locks. Until then the sessions it recovers wait.
//  3. Each arbiter pushes whole copies to the holders that lack them (new holders, fresh members, stale copies), and
//     tells each member when it is done. A fresh member serves once every member told it so.
//
// Each of these messages may be lost (issue 10, N12): digest chunks are numbered and the arbiter asks for the ones it
// lacks; pushes, "done", "ready" and fetches are asked again, under the same id, until they are answered. The pace
// starts at a quarter of the commit timeout and doubles up to the whole of it; the view changing (which cancels the
// epoch's reconciliation, or fails the calls to a member that left) is what ends them otherwise.
internal sealed partial class StoreNode
{
    private const int DigestChunk = 4096;
    private const int FetchChunk = 512;
    internal const int PushWindow = 4; // chunks of one push unacknowledged at once (internal: the tests bound it)
    private static readonly TimeSpan TrimInterval = TimeSpan.FromSeconds(1);

    private readonly List<(string From, Digest Digest)> _earlyDigests = [];
    private DateTimeOffset _lastTrim;
    private int _trimming;

    /// <summary>One epoch's reconciliation at this node. Its collections are guarded by the node's gate.</summary>
    private sealed class Reconciliation
    {
        private readonly StoreNode _node;

        public Reconciliation(StoreNode node, PrimaryDecision decision)
        {
            _node = node;
            Decision = decision;
            Cancel = CancellationTokenSource.CreateLinkedTokenSource(node._stopping.Token);
            foreach (var m in decision.View.Members)
            {
                if (m.NodeId == node.InstanceId)
                    continue;
                AwaitingDigests.Add(m.NodeId);
                AwaitingDone.Add(m.NodeId);
                Reports[m.NodeId] = new(StringComparer.Ordinal);
                ChunksIn[m.NodeId] = new DigestChunks();
                ChunksOut[m.NodeId] = [];
            }
            if (AwaitingDigests.Count == 0)
                DigestsIn.TrySetResult();
            if (AwaitingDone.Count == 0)
                AllDone.TrySetResult();
        }

        public PrimaryDecision Decision { get; }

        public long Epoch => Decision.Epoch;

        public MembershipView View => Decision.View;

        public bool SelfFresh => Decision.Fresh.Contains(_node.InstanceId);

        public CancellationTokenSource Cancel { get; }

        public bool Started { get; set; }

        public HashSet<string> AwaitingDigests { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, Dictionary<string, DigestEntry>> Reports { get; } = new(StringComparer.Ordinal);

        /// <summary>Per member, the digest chunks it sent this node.</summary>
        public Dictionary<string, DigestChunks> ChunksIn { get; } = new(StringComparer.Ordinal);

        /// <summary>Per member, the digest chunks this node sent it, kept for the epoch: it may ask for some again.</summary>
        public Dictionary<string, List<Digest>> ChunksOut { get; } = new(StringComparer.Ordinal);

        public List<LockEntry> Locks { get; } = [];

        public TaskCompletionSource DigestsIn { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The sessions this node recovers as their arbiter may be served.</summary>
        public TaskCompletionSource Recovered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>This node's pushes for the epoch are acknowledged: copies elsewhere may be trimmed.</summary>
        public bool PushesDone { get; set; }

        public HashSet<string> AwaitingDone { get; } = new(StringComparer.Ordinal);

        public TaskCompletionSource AllDone { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Whether the session's arbiter in this epoch must recover it: the arbiter changed, is catching up, or had not
        /// recovered what it took over in the previous primary when this view came (N17).</summary>
        public bool NeedsRecovery(string id)
        {
            var arbiter = ReplicationStrategy.ArbiterOf(id, View)?.NodeId;
            return arbiter is null || Decision.Fresh.Contains(arbiter) || Decision.Unrecovered.Contains(arbiter) || Decision.Previous.ArbiterOf(id) != arbiter;
        }

        /// <summary>Whether a request for the session must wait at its arbiter (this node) for the recovery.</summary>
        public bool Blocks(string id) => !Recovered.Task.IsCompletedSuccessfully && NeedsRecovery(id);

        public void Abandon()
        {
            Cancel.Cancel();
            Recovered.TrySetCanceled();
            DigestsIn.TrySetCanceled();
            AllDone.TrySetCanceled();
        }
    }

    /// <summary>The digest chunks heard from one member: its digest is in once every chunk up to the last one is.</summary>
    private sealed class DigestChunks
    {
        public HashSet<int> Have { get; } = [];

        /// <summary>How many chunks the member sent (known from the last one; -1 until then).</summary>
        public int Count { get; set; } = -1;

        public bool Complete => Count >= 0 && Have.Count >= Count && Enumerable.Range(0, Count).All(Have.Contains);
    }

    /// <summary>How long a reconciliation message waits for its answer before it is sent (or asked for) again; each
    /// further wait doubles, up to <see cref="ReconcileMaxWait"/>.</summary>
    private TimeSpan ReconcileFirstWait => ResendAfter;

    private TimeSpan ReconcileMaxWait => _options.CommitTimeout > ResendAfter ? _options.CommitTimeout : ResendAfter;

    private void StartReconciliationIfDue()
    {
        Reconciliation? start = null;
        lock (_gate)
        {
            if (_epoch.Reconciliation is { Started: false } r)
            {
                r.Started = true;
                start = r;
                foreach (var (from, digest) in _earlyDigests.Where(d => d.Digest.Epoch == r.Epoch).ToList())
                    TakeDigestLocked(r, from, digest);
                _earlyDigests.RemoveAll(d => d.Digest.Epoch <= r.Epoch || !r.View.Contains(d.From));
            }
        }
        if (start is not null)
            Track(RunReconciliationAsync(start));
    }

    private async Task RunReconciliationAsync(Reconciliation r)
    {
        await Task.Yield();
        var token = r.Cancel.Token;
        try
        {
            await SendDigestsAsync(r, token);
            await WaitForDigestsAsync(r, token);
            var recovered = await RecoverAsync(r, token);
            lock (_gate)
            {
                if (!token.IsCancellationRequested)
                    _primary.Recovered(r.Epoch);
            }
            r.Recovered.TrySetResult();
            var pushed = await PushAsync(r, token);
            lock (_gate)
                r.PushesDone = true;
            LogReconciled(r.Epoch, recovered, pushed);
            if (r.SelfFresh)
            {
                await r.AllDone.Task.WaitAsync(token);
                MarkCaughtUp(r);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // A newer view took over; its reconciliation starts from what this one achieved.
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogReconciliationFailed(r.Epoch, ex); // this node stays Joining until the next view: never silently
        }
    }

    /// <summary>Waits for every member's digest, asking the members whose digest is not complete for the chunks this node
    /// lacks, at the reconciliation's pace.</summary>
    private async Task WaitForDigestsAsync(Reconciliation r, CancellationToken cancellationToken)
    {
        var wait = ReconcileFirstWait;
        while (true)
        {
            try
            {
                await r.DigestsIn.Task.WaitAsync(wait, _time, cancellationToken);
                return;
            }
            catch (TimeoutException)
            {
                wait = PeerCalls.Doubled(wait, ReconcileMaxWait);
            }
            List<(string Node, DigestAsk Ask)> asks;
            lock (_gate)
                asks = [.. r.AwaitingDigests.Select(n => (n, new DigestAsk { Epoch = r.Epoch, Have = [.. r.ChunksIn[n].Have] }))];
            foreach (var (node, ask) in asks)
            {
                Counters.AddReconcileResend();
                LogAskingForDigest(node, r.Epoch, ask.Have.Count);
                Send(node, new Envelope { DigestAsk = ask });
            }
        }
    }

    /// <summary>Step 1 (every member): digests to each arbiter, and the locks this node granted for sessions it no longer arbitrates.</summary>
    private async Task SendDigestsAsync(Reconciliation r, CancellationToken cancellationToken)
    {
        var digests = new Dictionary<string, Digest>(StringComparer.Ordinal);
        foreach (var m in r.View.Members)
        {
            if (m.NodeId != InstanceId)
                digests[m.NodeId] = new Digest { Epoch = r.Epoch };
        }
        if (digests.Count == 0)
            return;
        List<(string Id, SessionApplier.Tombstone Tombstone)> tombstones;
        lock (_gate)
        {
            tombstones = [.. Applier.Tombstones.Select(t => (t.Key, t.Value))];
            if (!r.SelfFresh)
                ExportLocksLocked(r, digests);
        }
        foreach (var state in Table)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (Addressee(r, state.Id, digests) is { } digest)
            {
                digest.Entries.Add(new DigestEntry { SessionId = state.Id, Version = state.Version, Epoch = state.Epoch });
                await FlushDigestIfFullAsync(r, digests, state.Id, cancellationToken);
            }
        }
        foreach (var (id, tombstone) in tombstones)
        {
            if (Addressee(r, id, digests) is { } digest)
            {
                digest.Entries.Add(new DigestEntry { SessionId = id, Version = tombstone.Version, Epoch = tombstone.Epoch, Removed = true });
                await FlushDigestIfFullAsync(r, digests, id, cancellationToken);
            }
        }
        foreach (var (node, digest) in digests)
        {
            digest.Last = true;
            await SendDigestAsync(r, node, digest, cancellationToken);
        }
    }

    /// <summary>Numbers the chunk and keeps it for the epoch before it goes: the arbiter may ask for it again.</summary>
    private async Task SendDigestAsync(Reconciliation r, string node, Digest digest, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var sent = r.ChunksOut[node];
            digest.Index = sent.Count;
            sent.Add(digest);
        }
        await SendAsync(node, new Envelope { Digest = digest }, cancellationToken);
    }

    /// <summary>An arbiter lacks some of this node's digest chunks for the epoch (receive thread): the ones sent so far go
    /// again; those not sent yet follow anyway.</summary>
    private void OnDigestAsk(string from, DigestAsk ask)
    {
        List<Digest> again;
        lock (_gate)
        {
            if (_epoch.Reconciliation is not { } r || r.Epoch != ask.Epoch || !r.ChunksOut.TryGetValue(from, out var sent))
                return;
            var have = ask.Have.ToHashSet();
            again = [.. sent.Where(d => !have.Contains(d.Index))];
        }
        foreach (var digest in again)
        {
            Counters.AddReconcileResend();
            Send(from, new Envelope { Digest = digest });
        }
    }

    private Digest? Addressee(Reconciliation r, string id, Dictionary<string, Digest> digests)
    {
        var arbiter = ReplicationStrategy.ArbiterOf(id, r.View)?.NodeId;
        if (arbiter is null || arbiter == InstanceId || !digests.TryGetValue(arbiter, out var digest))
            return null;
        return r.SelfFresh || r.NeedsRecovery(id) ? digest : null;
    }

    private async Task FlushDigestIfFullAsync(Reconciliation r, Dictionary<string, Digest> digests, string id, CancellationToken cancellationToken)
    {
        var arbiter = ReplicationStrategy.ArbiterOf(id, r.View)!.NodeId;
        var digest = digests[arbiter];
        if (digest.Entries.Count < DigestChunk)
            return;
        digests[arbiter] = new Digest { Epoch = r.Epoch };
        await SendDigestAsync(r, arbiter, digest, cancellationToken);
    }

    /// <summary>Hands the locks of sessions whose arbiter changed to the new arbiter; their waiters ask it. Under the gate.</summary>
    private void ExportLocksLocked(Reconciliation r, Dictionary<string, Digest> digests)
    {
        foreach (var id in _locks.Sessions.ToList())
        {
            var arbiter = ReplicationStrategy.ArbiterOf(id, r.View)?.NodeId;
            if (arbiter == InstanceId)
                continue;
            var (entry, waiters) = _locks.Export(id);
            if (entry is not null && arbiter is not null && digests.TryGetValue(arbiter, out var digest))
                digest.Locks.Add(entry);
            foreach (var w in waiters)
                DeliverRefusal(w, id, LockStatus.NotArbiter);
        }
    }

    private async Task SendAsync(string node, Envelope message, CancellationToken cancellationToken)
    {
        try
        {
            await _channel.SendAsync(node, StoreCodec.Encode(message), cancellationToken);
        }
        catch (InvalidOperationException)
        {
            // Not in the view any more: the next view's reconciliation replaces this one.
        }
        catch (SendWindowFullException ex)
        {
            LogSendFailed(node, ex); // as if lost: the arbiter asks for the chunk again
        }
    }

    /// <summary>A digest from a member (receive thread). One for an epoch this node has not decided yet waits for it.</summary>
    private void OnDigest(string from, Digest digest)
    {
        lock (_gate)
        {
            var r = _epoch.Reconciliation;
            if (r is not null && r.Epoch == digest.Epoch)
                TakeDigestLocked(r, from, digest);
            else if (digest.Epoch > _epoch.Epoch && _earlyDigests.Count < 1024)
                _earlyDigests.Add((from, digest));
        }
    }

    private void TakeDigestLocked(Reconciliation r, string from, Digest digest)
    {
        // A chunk heard twice (sent again while the first was on its way) counts once: its locks would be taken twice.
        if (!r.Reports.TryGetValue(from, out var reports) || !r.ChunksIn[from].Have.Add(digest.Index))
            return;
        foreach (var e in digest.Entries)
            reports[e.SessionId] = e;
        r.Locks.AddRange(digest.Locks);
        var chunks = r.ChunksIn[from];
        if (digest.Last)
            chunks.Count = digest.Index + 1;
        if (chunks.Complete && r.AwaitingDigests.Remove(from) && r.AwaitingDigests.Count == 0)
            r.DigestsIn.TrySetResult();
    }

    /// <summary>Step 2 (arbiter): per reported session, the newest copy; fetched where another member holds it.</summary>
    private async Task<int> RecoverAsync(Reconciliation r, CancellationToken cancellationToken)
    {
        var fetch = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        lock (_gate)
        {
            var sessions = new HashSet<string>(StringComparer.Ordinal);
            foreach (var reports in r.Reports.Values)
                sessions.UnionWith(reports.Keys);
            foreach (var id in sessions)
            {
                if (!IsArbiter(id, r.View))
                    continue;
                if (Winner(r, id) is { } winner && winner.Node != InstanceId)
                {
                    if (!fetch.TryGetValue(winner.Node, out var ids))
                        fetch[winner.Node] = ids = [];
                    ids.Add(id);
                }
            }
            foreach (var entry in r.Locks)
            {
                if (IsArbiter(entry.SessionId, r.View))
                    _locks.Import(entry, r.View.Contains(entry.Holder));
            }
        }
        var recovered = 0;
        foreach (var (node, ids) in fetch)
        {
            foreach (var chunk in ids.Chunk(FetchChunk))
            {
                for (var offset = 0; offset < chunk.Length;)
                {
                    var (copies, covered) = await FetchAsync(node, chunk[offset..], cancellationToken);
                    offset += covered;
                    lock (_gate)
                    {
                        foreach (var copy in copies)
                        {
                            if (Applier.ApplyCopy(copy, authoritative: true, r.Epoch))
                                recovered++;
                        }
                    }
                }
            }
        }
        Counters.AddRecoveries(recovered);
        return recovered;
    }

    /// <summary>The copy that wins a session's recovery: the newest (epoch, version) any member holds. Copies are only
    /// ever written by the arbiter of a primary epoch (epochs are unique and ordered), so the newest is never a
    /// minority's; a catching-up member's copy counts like any other (a member can be "fresh" merely because a peer
    /// decided a view it never decided, and may hold the newest acknowledged version). On a tie, a member that took
    /// part in the previous primary wins.</summary>
    private (string Node, long Epoch, long Version, bool Removed)? Winner(Reconciliation r, string id)
    {
        (string Node, long Epoch, long Version, bool Removed, bool Fresh)? best = null;
        void Consider(string node, long epoch, long version, bool removed, bool fresh)
        {
            var order = best is null ? 1 : SessionApplier.Compare(epoch, version, best.Value.Epoch, best.Value.Version);
            if (order > 0 || (order == 0 && best!.Value.Fresh && !fresh))
                best = (node, epoch, version, removed, fresh);
        }
        if (Table.Get(id) is { } own)
            Consider(InstanceId, own.Epoch, own.Version, false, r.SelfFresh);
        else if (Applier.TombstoneOf(id) is { } dead)
            Consider(InstanceId, dead.Epoch, dead.Version, true, r.SelfFresh);
        foreach (var (node, reports) in r.Reports)
        {
            if (reports.TryGetValue(id, out var e))
                Consider(node, e.Epoch, e.Version, e.Removed, r.Decision.Fresh.Contains(node));
        }
        return best is { } b ? (b.Node, b.Epoch, b.Version, b.Removed) : null;
    }

    /// <summary>Asks the member for its copies until it answers (a slow member, or a lost request or reply); one that
    /// leaves the view answers nothing, and the view change starts a new reconciliation. Returns the copies and how
    /// many of the ids, from the first, the answer covers (a reply holds at most a state-transfer chunk).</summary>
    private async Task<(List<SessionCopy> Copies, int Covered)> FetchAsync(string node, string[] ids, CancellationToken cancellationToken)
    {
        var id = _calls.NextId();
        try
        {
            var request = new Envelope { FetchRequest = new FetchRequest { RequestId = id, SessionIds = [.. ids] } };
            var reply = await _calls.AskAsync(node, id, request, ReconcileFirstWait, ReconcileMaxWait, Counters.AddReconcileResend, cancellationToken);
            var covered = reply.FetchReply?.Covered ?? 0;
            return (reply.FetchReply?.Copies ?? [], covered > 0 && covered <= ids.Length ? covered : ids.Length);
        }
        catch (MemberGoneException)
        {
            return ([], ids.Length);
        }
    }

    private void OnFetchRequest(string from, FetchRequest request)
    {
        var reply = new FetchReply { RequestId = request.RequestId };
        var bytes = 0;
        var covered = 0;
        lock (_gate)
        {
            foreach (var id in request.SessionIds)
            {
                var copy = CopyOf(id);
                if (copy is not null)
                {
                    // Bounded like a pushed chunk: the whole answer must fit in one channel message.
                    var size = EstimatedBytes(copy);
                    if (reply.Copies.Count > 0 && bytes + size > _options.StateTransferChunkBytes)
                        break;
                    reply.Copies.Add(copy);
                    bytes += size;
                }
                covered++;
            }
        }
        if (covered < request.SessionIds.Count)
            reply.Covered = covered;
        Send(from, new Envelope { FetchReply = reply });
    }

    /// <summary>The session's whole copy, its tombstone, or null. Under the gate.</summary>
    private SessionCopy? CopyOf(string id) =>
        Table.Get(id) is { } state ? StoreCodec.ToCopy(state) : Applier.TombstoneOf(id) is { } dead ? TombstoneCopy(id, dead) : null;

    /// <summary>A copy's size in a message, near enough to bound a chunk (the message headroom covers the rest).</summary>
    private static int EstimatedBytes(SessionCopy copy)
    {
        var bytes = 64 + copy.Id.Length;
        foreach (var a in copy.Attributes)
            bytes += 8 + a.Key.Length + a.Value.Length;
        return bytes;
    }

    private static SessionCopy TombstoneCopy(string id, SessionApplier.Tombstone dead) =>
        new() { Id = id, Version = dead.Version, Epoch = dead.Epoch, Removed = true, RecentCommits = [.. dead.RecentCommits] };

    /// <summary>Step 3 (arbiter): whole copies to the holders that lack them, paced; then "done" to every member.</summary>
    private async Task<int> PushAsync(Reconciliation r, CancellationToken cancellationToken)
    {
        var targets = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var m in r.View.Members)
        {
            if (m.NodeId != InstanceId)
                targets[m.NodeId] = [];
        }
        var backups = _replication is BackupReplication ring ? ring.Backups : -1;
        List<(string Id, SessionApplier.Tombstone Tombstone)> tombstones;
        lock (_gate)
            tombstones = [.. Applier.Tombstones.Select(t => (t.Key, t.Value))];
        void Consider(string id, long epoch, long version, bool removed)
        {
            if (!IsArbiter(id, r.View))
                return;
            foreach (var replica in _replication.Replicas(id, r.View))
            {
                var node = replica.NodeId;
                if (!targets.TryGetValue(node, out var list))
                    continue;
                Dictionary<string, DigestEntry>? reports;
                lock (_gate)
                    r.Reports.TryGetValue(node, out reports);
                var reported = reports is not null && reports.TryGetValue(id, out var e) ? e : null;
                if (reported is not null && reported.Epoch == epoch && reported.Version == version && reported.Removed == removed)
                    continue;
                var fresh = r.Decision.Fresh.Contains(node);
                var newHolder = !r.Decision.Previous.Held(id, node, backups);
                if (fresh || newHolder || reported is not null || r.NeedsRecovery(id))
                    list.Add(id);
            }
        }
        foreach (var state in Table)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Consider(state.Id, state.Epoch, state.Version, false);
        }
        foreach (var (id, tombstone) in tombstones)
            Consider(id, tombstone.Epoch, tombstone.Version, true);

        var pushed = 0;
        await Task.WhenAll(targets.Select(async t =>
        {
            var count = await PushToAsync(r, t.Key, t.Value, cancellationToken);
            Interlocked.Add(ref pushed, count);
            await AskUntilAnsweredAsync(t.Key, id => new Envelope { ReconcileDone = new ReconcileDone { Epoch = r.Epoch, RequestId = id } }, cancellationToken);
        }));
        Counters.AddRebalanced(pushed);
        return pushed;
    }

    /// <summary>Sends a message that is answered by a <see cref="ReconcileAck"/> until it is answered, the member leaves,
    /// or the epoch's reconciliation is cancelled.</summary>
    private async Task AskUntilAnsweredAsync(string node, Func<ulong, Envelope> message, CancellationToken cancellationToken)
    {
        var id = _calls.NextId();
        try
        {
            await _calls.AskAsync(node, id, message(id), ReconcileFirstWait, ReconcileMaxWait, Counters.AddReconcileResend, cancellationToken);
        }
        catch (MemberGoneException)
        {
            // It left: the view changes, and so does what it must be told.
        }
    }

    private async Task<int> PushToAsync(Reconciliation r, string node, List<string> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
            return 0;
        LogPushing(ids.Count, node, r.Epoch);
        var inFlight = new List<Task<bool>>();
        var gone = false;
        var sent = 0;
        var nextReport = ids.Count / 10;
        var batch = new Replicate { Epoch = r.Epoch, AckRequested = true };
        var bytes = 0;
        async Task SendBatchAsync()
        {
            if (inFlight.Count >= PushWindow)
            {
                var done = await Task.WhenAny(inFlight);
                inFlight.Remove(done);
                gone |= !await done;
            }
            batch.ReplicationId = _calls.NextId();
            inFlight.Add(PushBatchAsync(node, batch, cancellationToken));
            sent += batch.Copies.Count;
            if (ids.Count >= 1000 && sent >= nextReport)
            {
                LogPushProgress(node, sent, ids.Count);
                nextReport += ids.Count / 10;
            }
            batch = new Replicate { Epoch = r.Epoch, AckRequested = true };
            bytes = 0;
        }
        foreach (var id in ids)
        {
            if (gone)
                break; // it left: the view changes, and a new reconciliation pushes to the holders of that view
            SessionCopy? copy;
            lock (_gate)
                copy = CopyOf(id);
            if (copy is null)
                continue;
            // A chunk plus one large session could pass the channel's message limit: send what is there first.
            var size = EstimatedBytes(copy);
            if (batch.Copies.Count > 0 && bytes + size > _options.StateTransferChunkBytes)
                await SendBatchAsync();
            batch.Copies.Add(copy);
            bytes += size;
            if (bytes >= _options.StateTransferChunkBytes)
                await SendBatchAsync();
        }
        if (batch.Copies.Count > 0)
            await SendBatchAsync();
        await Task.WhenAll(inFlight);
        return sent;
    }

    /// <summary>One chunk of copies, sent again until the holder acknowledges it (a holder applies a copy it already has
    /// as a no-op and acknowledges again). False when the holder left the view.</summary>
    private async Task<bool> PushBatchAsync(string node, Replicate batch, CancellationToken cancellationToken)
    {
        try
        {
            await _calls.AskAsync(node, batch.ReplicationId, new Envelope { Replicate = batch }, ReconcileFirstWait, ReconcileMaxWait, Counters.AddReconcileResend, cancellationToken);
            return true;
        }
        catch (MemberGoneException)
        {
            return false;
        }
    }

    private void OnReconcileDone(string from, ReconcileDone done)
    {
        lock (_gate)
        {
            if (_epoch.Reconciliation is { } r && r.Epoch == done.Epoch && r.AwaitingDone.Remove(from) && r.AwaitingDone.Count == 0)
                r.AllDone.TrySetResult();
        }
        // Answered whatever this node made of it (an older epoch's is over): the arbiter only needs to stop sending it.
        if (done.RequestId != 0)
            Send(from, new Envelope { ReconcileAck = new ReconcileAck { RequestId = done.RequestId } });
    }

    /// <summary>Ring: copies this node no longer must hold are dropped once their arbiter confirms its holders have them;
    /// leftovers that expired are dropped without asking.</summary>
    private void TrimLeftoversIfDue()
    {
        if (_replication.EveryMember)
            return;
        var now = _time.GetUtcNow();
        var epoch = _epoch;
        if (now - _lastTrim < TrimInterval || !epoch.Serving || Interlocked.CompareExchange(ref _trimming, 1, 0) != 0)
            return;
        _lastTrim = now;
        Track(TrimAsync(epoch));
    }

    private async Task TrimAsync(EpochState epoch)
    {
        try
        {
            await Task.Yield();
            var view = epoch.View;
            var asks = new Dictionary<string, HoldRequest>(StringComparer.Ordinal);
            var expired = new List<string>();
            var now = _time.GetUtcNow();
            foreach (var state in Table)
            {
                if (HoldsHere(state.Id, view) || ReplicationStrategy.ArbiterOf(state.Id, view) is not { } arbiter)
                    continue;
                if (IsExpired(state, now))
                {
                    expired.Add(state.Id);
                    continue;
                }
                if (!asks.TryGetValue(arbiter.NodeId, out var ask))
                    asks[arbiter.NodeId] = ask = new HoldRequest();
                if (ask.Entries.Count < DigestChunk)
                    ask.Entries.Add(new HoldEntry { SessionId = state.Id, Version = state.Version });
            }
            var dropped = 0;
            lock (_gate)
            {
                foreach (var id in expired)
                {
                    if (!HoldsHere(id, _view))
                    {
                        Applier.Drop(id);
                        dropped++;
                    }
                }
            }
            foreach (var (node, ask) in asks)
            {
                var id = _calls.NextId();
                ask.RequestId = id;
                HoldReply? reply;
                try
                {
                    reply = (await _calls.CallAsync(node, id, new Envelope { HoldRequest = ask }, _options.CommitTimeout, _stopping.Token)).HoldReply;
                }
                catch (Exception ex) when (ex is MemberGoneException or TimeoutException)
                {
                    continue;
                }
                var versions = ask.Entries.ToDictionary(e => e.SessionId, e => e.Version, StringComparer.Ordinal);
                lock (_gate)
                {
                    foreach (var sessionId in reply?.Droppable ?? [])
                    {
                        if (versions.TryGetValue(sessionId, out var asked) && Table.Get(sessionId) is { } state && state.Version <= asked && !HoldsHere(sessionId, _view))
                        {
                            Applier.Drop(sessionId);
                            dropped++;
                        }
                    }
                }
            }
            if (dropped > 0)
            {
                Counters.AddDropped(dropped);
                LogDropped(dropped);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        finally
        {
            Volatile.Write(ref _trimming, 0);
        }
    }

    /// <summary>The arbiter confirms the copies the asker may drop: it arbitrates them in a view where the asker is not
    /// a holder, it is reconciled (its holders have its copies), and it is at least at the asker's version or removed
    /// the session at or after it.</summary>
    private void OnHoldRequest(string from, HoldRequest request)
    {
        var reply = new HoldReply { RequestId = request.RequestId };
        lock (_gate)
        {
            var epoch = _epoch;
            if (epoch.Serving && epoch.Reconciliation is { PushesDone: true })
            {
                foreach (var entry in request.Entries)
                {
                    var id = entry.SessionId;
                    // At least the asker's version, or removed at or after it: a removed session's leftover goes too.
                    var newer = Table.Get(id) is { } state ? state.Version >= entry.Version
                        : Applier.TombstoneOf(id) is { } dead && dead.Version >= entry.Version;
                    if (IsArbiter(id, _view) && !_replication.Holds(id, _view, from) && !_inFlight.ContainsKey(id) && newer)
                    {
                        reply.Droppable.Add(id);
                    }
                }
            }
        }
        Send(from, new Envelope { HoldReply = reply });
    }

    /// <summary>Loads the disk copy before joining: copies and tombstones, kept as this node's candidates.</summary>
    private void LoadDisk()
    {
        var loaded = _disk!.Load(SessionOptions.MaxSessionBytes);
        lock (_gate)
        {
            foreach (var copy in loaded)
            {
                if (copy.Removed)
                    Applier.LoadTombstone(copy.Id, copy.Epoch, copy.Version, [.. copy.RecentCommits]);
                else if (Table.Get(copy.Id) is not { } have || SessionApplier.Compare(copy.Epoch, copy.Version, have.Epoch, have.Version) > 0)
                    Table.Set(StoreCodec.FromCopy(copy)); // straight into the table: these files are already the disk copy
            }
        }
        LogDiskLoaded(loaded.Count, Counters.CorruptFiles, _options.DataDirectory);
        if (_disk.LoadPrimary() is { } record)
        {
            lock (_gate)
                _primary.Restore(record);
            LogPrimaryRestored(record.Epoch, record.Members.Count);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "The disk copy remembers primary epoch {Epoch} ({Count} member(s)): this node counts toward it once more, and catches up first")]
    private partial void LogPrimaryRestored(long epoch, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Epoch {Epoch} reconciled here: {Recovered} copies recovered, {Pushed} pushed to other holders")]
    private partial void LogReconciled(long epoch, int recovered, int pushed);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pushing {Count} session copies to {Node} (epoch {Epoch})")]
    private partial void LogPushing(int count, string node, long epoch);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pushing to {Node}: {Done}/{Total} sessions")]
    private partial void LogPushProgress(string node, int done, int total);

    [LoggerMessage(Level = LogLevel.Information, Message = "Digest of {Node} for epoch {Epoch} incomplete ({Have} chunk(s) in): asking for the rest")]
    private partial void LogAskingForDigest(string node, long epoch, int have);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reconciliation of epoch {Epoch} failed; this node waits for the next view")]
    private partial void LogReconciliationFailed(long epoch, Exception ex);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Dropped {Count} copies this node no longer must hold")]
    private partial void LogDropped(int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Loaded {Count} session file(s) from the disk copy in {Directory}; {Corrupt} corrupt file(s) skipped")]
    private partial void LogDiskLoaded(int count, long corrupt, string directory);
}
