using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

/// <summary>
/// Issue 10, finding 1, at the store: a node the group removed while it was alive is told so by its channel
/// (<see cref="GroupHandler.OnExcluded"/>), and from then on it is not ready, arbitrates nothing of what it arbitrated,
/// and rejoins saying it is behind, so it catches up before it is ready again. On a channel the test plays by hand
/// (<see cref="ScriptedGroupChannel.ExcludeAsync"/>): n2 serves with n1 and n3 in epoch 3, is excluded, and is let back
/// in (view 5) before the others decided a primary without it, so their last primary is still its own.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class StoreExclusionTests(bool ring)
{
    private const string Self = "n2";
    private static readonly string[] Peers = ["n1", "n3"];
    private ScriptedStoreNode _node = null!;
    private MembershipView _view3 = null!;

    private ScriptedGroupChannel Channel => _node.Channel;

    [SetUp]
    public async Task ServeInEpoch3()
    {
        // No lock wait: a request this node cannot serve is refused at once, so the test needs no timing.
        _node = new ScriptedStoreNode(Self, ring, o => o.LockWaitTimeout = TimeSpan.Zero);
        await _node.ServeFirstViewAsync(3, Peers);
        _view3 = Channel.View;
        Assert.That(_node.Store.Status, Is.EqualTo(ClusterStoreStatus.Ready));
    }

    [TearDown]
    public async Task Stop() => await _node.DisposeAsync();

    /// <summary>Installs view 5 of the same members: n2 is back in the group, the view is undecided.</summary>
    private Task<MembershipView> RejoinAsync() => Channel.InstallAsync(5, [.. Peers, Self]);

    /// <summary>The peers' states for view 5: they come straight from epoch 3 (view 3), which n2 took part in.</summary>
    private async Task PeersStatesAsync(MembershipView view)
    {
        foreach (var peer in Peers)
            await Channel.DeliverAsync(peer, new Envelope { PrimaryState = ScriptedStoreNode.StateOf(view, 3, _view3, current: true) }, unicast: false);
    }

    /// <summary>n1 creates a session n2 arbitrates; n2 sends it to its replicas (not acknowledged yet).</summary>
    private async Task<(string Id, Replicate Sent)> CommitNewSessionAsync(ulong requestId)
    {
        var id = SessionIds.New(Member.RingIndexOf(Self));
        await Channel.DeliverAsync("n1", new Envelope { CommitRequest = new CommitRequest { RequestId = requestId, Delta = ScriptedStoreNode.Delta(id, 0, 0, 1, "n1"), Release = true } });
        var sent = Channel.Sent.Select(s => s.Message.Replicate).LastOrDefault(r => r?.Deltas.Any(d => d.Id == id) == true)
            ?? throw new AssertionException($"n2 sent no update of the new session; {_node.Describe()}");
        return (id, sent);
    }

    /// <summary>The replica that must acknowledge n2's update: the ring's backup, or any member of the replicated store.</summary>
    private string ReplicaOf(Replicate sent) =>
        Channel.Sent.Last(s => ReferenceEquals(s.Message.Replicate, sent)).To ?? "n1";

    private Task AckAsync(Replicate sent) =>
        Channel.DeliverAsync(ReplicaOf(sent), new Envelope { ReplicateAck = new ReplicateAck { ReplicationId = sent.ReplicationId, Epoch = sent.Epoch, Status = ReplicateStatus.Applied } });

    private IEnumerable<(string To, Envelope Message)> SentOrRefused => Channel.Sent.Where(s => s.To is not null).Select(s => (s.To!, s.Message)).Concat(Channel.Refused);

    [Test]
    public async Task Excluded_IsNotReadyUntilTheViewItRejoinsIsDecided()
    {
        await Channel.ExcludeAsync();

        Assert.That(_node.Store.Status, Is.EqualTo(ClusterStoreStatus.Joining), "told it was removed: not ready (health 503)");
        Assert.That(_node.Store.IsReady(), Is.False);
        var refused = Assert.ThrowsAsync<ClusterUnavailableException>(async () => await _node.Manager.BeginRequestAsync(SessionIds.New(Member.RingIndexOf(Self)), SessionAccess.Exclusive));
        Assert.That(refused!.Status, Is.EqualTo(ClusterStoreStatus.Joining), "an exclusive request: 503");

        // Back in the group: until the members decide the view, it has not caught up with whatever they did meanwhile.
        await RejoinAsync();

        Assert.That(_node.Store.Status, Is.EqualTo(ClusterStoreStatus.Joining), "a node that served and was not removed would stay Ready here");
        Assert.That(_node.Store.IsReady(), Is.False);
    }

    [Test]
    public async Task Excluded_RejoinsSayingItIsBehind_AndIsReadyOnlyAfterItCaughtUp()
    {
        await Channel.ExcludeAsync();
        var view5 = await RejoinAsync();

        var own = Channel.Sent.Where(s => s.To is null).Select(s => s.Message.PrimaryState).LastOrDefault(p => p?.ViewId == 5);
        Assert.That(own, Is.Not.Null, "n2 announces its state for view 5");
        Assert.That(own!.Behind, Is.True, "it may lack what the others committed while it was out");
        Assert.That(own.Current, Is.False, "it does not come straight from epoch 3");
        Assert.That(own.LastEpoch, Is.EqualTo(3L));

        // The peers' states decide the view: primary, n2 fresh (it catches up before it serves).
        await PeersStatesAsync(view5);
        await Eventually.Until(() => _node.Log.Entries.Any(e => e.Message.StartsWith("View 5 is primary", StringComparison.Ordinal)), "view 5 decided", _node.Describe);
        Assert.That(_node.Log.Entries.Single(e => e.Message.StartsWith("View 5 is primary", StringComparison.Ordinal)).Message, Does.Contain("this node: True"));
        Assert.That(_node.Store.Status, Is.EqualTo(ClusterStoreStatus.Joining), "decided, not caught up");
        // The state transfer: as a fresh member it reports everything it holds to the arbiters of epoch 5.
        await Eventually.Until(() => Peers.All(p => Channel.Sent.Any(s => s.To == p && s.Message.Digest?.Epoch == 5)), "n2's digests for epoch 5", _node.Describe);
        Assert.That(_node.Store.Status, Is.EqualTo(ClusterStoreStatus.Joining));

        await _node.ReconcileAsync(5, Peers);

        await Eventually.Until(() => _node.Store.Status == ClusterStoreStatus.Ready, "n2 ready once it caught up", _node.Describe);
        Assert.That(_node.Log.Entries.Any(e => e.Message.StartsWith("Node n2 caught up with epoch 5", StringComparison.Ordinal)), Is.True);
    }

    [Test]
    public async Task Excluded_TheLockItGranted_IsNotHandedToItsWaiterByALateRelease()
    {
        var (id, created) = await CommitNewSessionAsync(1);
        await AckAsync(created);
        await Channel.DeliverAsync("n1", new Envelope { LockRequest = new LockRequest { RequestId = 2, SessionId = id, KnownVersion = 1 } });
        var grant = Channel.Sent.Select(s => s.Message.LockReply).Last(r => r?.RequestId == 2)!;
        Assert.That(grant.Status, Is.EqualTo(LockStatus.Granted));
        await Channel.DeliverAsync("n3", new Envelope { LockRequest = new LockRequest { RequestId = 3, SessionId = id, KnownVersion = 1, Policy = ConflictPolicy.Wait } });
        Assert.That(SentOrRefused.Where(s => s.Message.LockReply?.RequestId == 3), Is.Empty, "n3 waits for n1's lock");

        await Channel.ExcludeAsync();
        // Asked while excluded: refused (the channel, rejoining, cannot carry the answer; n3 asks the next arbiter).
        await Channel.DeliverAsync("n3", new Envelope { LockRequest = new LockRequest { RequestId = 4, SessionId = id, KnownVersion = 1, Policy = ConflictPolicy.Wait } });
        await RejoinAsync();
        // n1 releases the lock it was granted in epoch 3; n2 heard it only now, back in the group.
        await Channel.DeliverAsync("n1", new Envelope { LockRelease = new LockRelease { SessionId = id, Token = grant.Token } });

        Assert.Multiple(() =>
        {
            Assert.That(SentOrRefused.Where(s => s.Message.LockReply is { Status: LockStatus.Granted } r && r.RequestId != 2), Is.Empty,
                "n2 grants nothing after it was excluded: the others may have granted the lock since");
            Assert.That(Channel.Refused.Where(s => s.To == "n3").Select(s => s.Message.LockReply).OfType<LockReply>().Select(r => (r.RequestId, r.Status)),
                Is.EquivalentTo(new[] { (3UL, LockStatus.NotArbiter), (4UL, LockStatus.NotArbiter) }), "the waiter and the late request are refused");
        });
    }

    [Test]
    public async Task Excluded_ACommitItArbitrated_IsNotCompletedByALateAcknowledgement()
    {
        var (id, sent) = await CommitNewSessionAsync(1);

        await Channel.ExcludeAsync();
        await RejoinAsync();
        // The replica's acknowledgement of epoch 3 reaches n2 only now, back in the group.
        await AckAsync(sent);

        Assert.Multiple(() =>
        {
            Assert.That(_node.Manager.Table.Contains(id), Is.False, "n2 applies nothing it sequenced before it was excluded");
            Assert.That(SentOrRefused.Where(s => s.Message.CommitReply?.RequestId == 1), Is.Empty,
                "no answer: the commit is in doubt, and n1 asks the next arbiter for its outcome");
        });
    }
}
