using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Tests.Transports.Udp;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

/// <summary>
/// A ring arbiter's reconciliation after members join, on a channel the test plays by hand
/// (<see cref="ScriptedGroupChannel"/>) and a clock that moves only when the test moves it: the push of copies to a new
/// backup is paced by the backup's acknowledgements, so a transfer larger than the channel's send window completes
/// (issue 10, finding 4); and a member that asks to drop its copies is answered by its role in the arbiter's view, not
/// in its own (finding 5).
/// </summary>
public sealed class StoreRingReconcileTests
{
    private const string Self = "n1";
    private const int Sessions = 48;
    // Each session is about 400 bytes on the wire: two to a 1 KiB chunk, so the push is 24 chunks, six send windows.
    private const int ChunkBytes = 1024;
    private const int BlobBytes = 300;

    private ManualTimeProvider _time = null!;
    private ScriptedGroupChannel _channel = null!;
    private CapturingLogger<StoreRingReconcileTests> _log = null!;
    private RingClusterStore _sut = null!;
    private SessionManager _manager = null!;
    private List<string> _ids = null!;

    /// <summary>This node serves alone (view 1) and creates <see cref="Sessions"/> sessions: it arbitrates them all.</summary>
    [SetUp]
    public async Task ServeAloneWithSessions()
    {
        _time = new ManualTimeProvider();
        _channel = new ScriptedGroupChannel(Self);
        _log = new CapturingLogger<StoreRingReconcileTests>();
        // No acknowledgements: alone, this node's commits have no backup to wait for (the placement still names one).
        var options = new ClusterStoreOptions { NodeId = Self, Backups = 1, ReplicationAcks = 0, StateTransferChunkBytes = ChunkBytes };
        _sut = new RingClusterStore(_channel, options, _time, _log);
        _manager = new SessionManager(_sut, new SessionOptions(), _time);
        var start = _manager.StartAsync();
        await _channel.InstallAsync(1, Self);
        await Eventually.Within(start, "this node to serve alone in view 1");
        // Until its first epoch is reconciled a commit is refused and retried after a pause on this clock, which only
        // the test moves: wait for the reconciliation rather than move it.
        await Eventually.Until(() => _log.Entries.Any(e => e.Message.StartsWith("Epoch ", StringComparison.Ordinal) && e.Message.Contains("reconciled here", StringComparison.Ordinal)),
            "the first epoch reconciled here", Describe);
        _ids = [];
        for (var i = 0; i < Sessions; i++)
        {
            var session = await _manager.CreateAsync();
            session.Set("blob", new byte[BlobBytes]);
            await _manager.EndRequestAsync(session);
            _ids.Add(session.Id);
        }
    }

    /// <summary>Stopping waits for work in flight on this clock (a commit, a push): the clock moves until it is done.</summary>
    [TearDown]
    public async Task Stop() => await _time.AdvanceWhilePending(_manager.DisposeAsync().AsTask(), TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5));

    /// <summary>What a joiner saw of this node's push, as the test played it.</summary>
    private sealed class Received
    {
        public HashSet<string> Ids { get; } = new(StringComparer.Ordinal);

        public int Chunks { get; set; }

        /// <summary>The most chunks the joiner held unacknowledged at once (the test acknowledges all it takes).</summary>
        public int MostUnacknowledged { get; set; }
    }

    /// <summary>View 2: this node and <paramref name="joiners"/> (new, empty nodes). Delivers their primary states and
    /// their (empty) digests; returns the epoch this node decided.</summary>
    private async Task<long> JoinAsync(params string[] joiners)
    {
        var view = await _channel.InstallAsync(2, [Self, .. joiners]);
        foreach (var joiner in joiners)
            await _channel.DeliverAsync(joiner, new Envelope { PrimaryState = new PrimaryState { ViewId = view.Id, ViewHash = PrimaryTracker.HashOf(view) } }, unicast: false);
        // This node's own digest to each joiner names the epoch it decided.
        long epoch = 0;
        foreach (var joiner in joiners)
        {
            Digest? sent = null;
            await Eventually.Until(() => (sent = _channel.Take(joiner).Select(m => m.Digest).LastOrDefault(d => d is not null) ?? sent) is not null,
                $"this node's digest to {joiner}", Describe);
            epoch = sent!.Epoch;
        }
        foreach (var joiner in joiners)
            await _channel.DeliverAsync(joiner, new Envelope { Digest = new Digest { Epoch = epoch, Last = true } });
        return epoch;
    }

    /// <summary>
    /// Plays <paramref name="joiner"/> until this node tells it the epoch's pushes are done: takes what this node sent it,
    /// acknowledges every pushed chunk as applied, and acknowledges the "done". When nothing came for a moment it moves
    /// the clock by <paramref name="idleStep"/> (a chunk the window refused goes again after a wait on this clock), or,
    /// with no step, fails if a send was refused (nothing would move the push on).
    /// </summary>
    private async Task<Received> PlayJoinerAsync(string joiner, TimeSpan? idleStep)
    {
        var received = new Received();
        var deadline = DateTime.UtcNow + Eventually.DefaultTimeout;
        while (true)
        {
            var taken = _channel.Take(joiner);
            var chunks = taken.Select(m => m.Replicate).OfType<Replicate>().ToList();
            received.Chunks += chunks.Count;
            received.MostUnacknowledged = Math.Max(received.MostUnacknowledged, chunks.Count);
            foreach (var chunk in chunks)
            {
                received.Ids.UnionWith(chunk.Copies.Select(c => c.Id));
                await _channel.DeliverAsync(joiner, new Envelope { ReplicateAck = new ReplicateAck { ReplicationId = chunk.ReplicationId, Epoch = chunk.Epoch, Status = ReplicateStatus.Applied } });
            }
            if (taken.Select(m => m.ReconcileDone).OfType<ReconcileDone>().FirstOrDefault() is { } done)
            {
                await _channel.DeliverAsync(joiner, new Envelope { ReconcileAck = new ReconcileAck { RequestId = done.RequestId } });
                return received;
            }
            if (taken.Count > 0)
                continue;
            if (idleStep is null && _channel.WindowRefusals > 0)
                Assert.Fail($"the push overfilled the send window ({_channel.WindowRefusals} send(s) refused) after {received.Chunks} chunk(s); {Describe()}");
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"Timed out playing {joiner}: {received.Chunks} chunk(s), {received.Ids.Count} session(s) in; {Describe()}");
            await Task.Delay(5);
            if (idleStep is { } step)
                _time.Advance(step);
        }
    }

    private Task ReconciledAsync(long epoch) =>
        Eventually.Until(() => _log.Entries.Any(e => e.Message.StartsWith($"Epoch {epoch} reconciled here", StringComparison.Ordinal)), $"epoch {epoch} reconciled here", Describe);

    private string Describe() =>
        $"window refusals {_channel.WindowRefusals}, reconcile resends {_sut.Counters.ReconcileResends}; log: {string.Join(" | ", _log.Entries.Select(e => e.Message))}";

    [Test]
    public async Task Push_LargerThanTheSendWindow_IsPacedByAcknowledgementsAndCompletes()
    {
        // The channel holds at most a push window of unacknowledged chunks: one more would be refused.
        _channel.SendWindow = StoreNode.PushWindow;

        var epoch = await JoinAsync("n2");
        var received = await PlayJoinerAsync("n2", idleStep: null);
        await ReconciledAsync(epoch);

        Assert.That(received.Chunks, Is.GreaterThanOrEqualTo(3 * StoreNode.PushWindow), "the transfer is several send windows long");
        Assert.That(received.Ids, Is.EquivalentTo(_ids), "every session reached the new backup");
        Assert.That(received.MostUnacknowledged, Is.LessThanOrEqualTo(StoreNode.PushWindow), "the next chunk waits for an acknowledgement");
        Assert.That(_channel.WindowRefusals, Is.Zero, "the push never overfilled the window");
        Assert.That(_sut.Counters.ReconcileResends, Is.Zero, "nothing had to be sent again");
        Assert.That(_sut.Counters.Rebalanced, Is.EqualTo(Sessions));
    }

    [Test]
    public async Task Push_WhoseChunksTheSendWindowRefuses_SendsThoseAgainAndCompletes()
    {
        // A window smaller than the push's: some chunks are refused as the channel refuses a send whose window stayed
        // full past its send timeout. They are sent again after a wait, not the whole push given up.
        _channel.SendWindow = StoreNode.PushWindow / 2;

        var epoch = await JoinAsync("n2");
        var received = await PlayJoinerAsync("n2", idleStep: TimeSpan.FromSeconds(1));
        await ReconciledAsync(epoch);

        Assert.That(_channel.WindowRefusals, Is.GreaterThan(0), "the window did refuse chunks");
        Assert.That(_sut.Counters.ReconcileResends, Is.GreaterThan(0), "the refused chunks went again");
        Assert.That(received.Ids, Is.EquivalentTo(_ids), "every session reached the new backup");
        Assert.That(_log.Entries.Any(e => e.Message.StartsWith("Reconciliation of epoch", StringComparison.Ordinal)), Is.False, "the reconciliation did not fail");
    }

    [Test]
    public async Task HoldRequest_IsAnsweredByTheAskersRoleInTheArbitersView()
    {
        var epoch = await JoinAsync("n2", "n3");
        // Each session's backup is this node's successor in ring order: the push tells which joiner that is.
        Received[] pushes = [await PlayJoinerAsync("n2", idleStep: null), await PlayJoinerAsync("n3", idleStep: null)];
        await ReconciledAsync(epoch);
        var (backup, other) = pushes[0].Ids.Count > 0 ? ("n2", "n3") : ("n3", "n2");
        Assert.That(pushes[0].Ids.Count + pushes[1].Ids.Count, Is.EqualTo(Sessions), "one joiner is the backup of every session here");
        var id = _ids[0];
        var version = _manager.Table.Get(id)!.Version;

        // Both ask to drop their copy (each as if, in its own view, it need not hold it).
        var backupReply = await AskToDropAsync(backup, id, version, requestId: 71);
        var otherReply = await AskToDropAsync(other, id, version, requestId: 72);

        Assert.That(otherReply.Droppable, Is.EqualTo(new[] { id }), $"{other} does not hold {id} in this node's view: its leftover may go");
        Assert.That(backupReply.Droppable, Is.Empty, $"{backup} is {id}'s backup in this node's view: it keeps its copy");
    }

    private async Task<HoldReply> AskToDropAsync(string asker, string id, long version, ulong requestId)
    {
        await _channel.DeliverAsync(asker, new Envelope { HoldRequest = new HoldRequest { RequestId = requestId, Entries = [new HoldEntry { SessionId = id, Version = version }] } });
        return _channel.Take(asker).Select(m => m.HoldReply).OfType<HoldReply>().SingleOrDefault(r => r.RequestId == requestId)
            ?? throw new AssertionException($"no answer to {asker}'s hold request; {Describe()}");
    }
}
