using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

/// <summary>
/// Issue 10, finding 3, at the store: an acknowledgement means applied. A replica that receives a delta whose base it
/// does not hold parks it (<see cref="SessionApplier"/>) and acknowledges it only once the base came and the delta is
/// in its table, whichever path brought the base: the arbiter's copy it asked for, or a reconciliation push while it
/// joins. On a channel the test plays by hand: n1 arbitrates the session, n2 is its replica.
/// </summary>
[TestFixture(false)]
[TestFixture(true)]
public sealed class StoreDeferredAckTests(bool ring)
{
    private const string Self = "n2";
    private const string Arbiter = "n1";
    private ScriptedStoreNode _node = null!;

    private ScriptedGroupChannel Channel => _node.Channel;

    [SetUp]
    public void NewReplica() => _node = new ScriptedStoreNode(Self, ring);

    [TearDown]
    public async Task Stop() => await _node.DisposeAsync();

    private static Envelope Replicate(ulong replicationId, long epoch, SessionDelta? delta = null, SessionCopy? copy = null) => new()
    {
        Replicate = new Replicate
        {
            ReplicationId = replicationId,
            Epoch = epoch,
            AckRequested = true,
            Deltas = delta is null ? [] : [delta],
            Copies = copy is null ? [] : [copy],
        },
    };

    private long VersionOf(string id) => _node.Manager.Table.Get(id)?.Version ?? 0;

    [Test]
    public async Task Replicate_OfADeltaBeforeItsBase_IsAcknowledgedOnceTheArbitersCopyAppliedIt()
    {
        await _node.ServeFirstViewAsync(3, Arbiter);
        var id = SessionIds.New(Member.RingIndexOf(Arbiter));

        // Version 2 of a session n2 never received version 1 of.
        await Channel.DeliverAsync(Arbiter, Replicate(11, 3, ScriptedStoreNode.Delta(id, 1, 3, 2, Arbiter)));

        Assert.That(VersionOf(id), Is.Zero, "parked: its base is missing");
        Assert.That(_node.AcksFor(11), Is.Empty, "not applied, so not acknowledged");
        await Eventually.Until(() => Channel.Sent.Any(s => s.To == Arbiter && s.Message.ReadRequest?.SessionId == id), "n2 asks n1 for the session", _node.Describe);
        var ask = Channel.Sent.First(s => s.To == Arbiter && s.Message.ReadRequest?.SessionId == id).Message.ReadRequest!;
        Assert.That(_node.AcksFor(11), Is.Empty);

        // n1's committed copy of version 1: the parked delta applies on it.
        await Channel.DeliverAsync(Arbiter, new Envelope { ReadReply = new ReadReply { RequestId = ask.RequestId, Status = ReadStatus.Found, Copy = ScriptedStoreNode.Copy(id, 1, 3, 1, Arbiter) } });

        await Eventually.Until(() => _node.AcksFor(11).Count > 0, "the acknowledgement once applied", _node.Describe);
        Assert.That(VersionOf(id), Is.EqualTo(2));
        // The next commit goes through as usual; the deferred acknowledgement went once.
        await Channel.DeliverAsync(Arbiter, Replicate(12, 3, ScriptedStoreNode.Delta(id, 2, 3, 3, Arbiter)));
        Assert.Multiple(() =>
        {
            Assert.That(VersionOf(id), Is.EqualTo(3));
            Assert.That(_node.AcksFor(11).Select(a => (a.Status, a.Epoch)), Is.EqualTo(new[] { (ReplicateStatus.Applied, 3L) }), "exactly one acknowledgement");
            Assert.That(_node.AcksFor(12).Select(a => a.Status), Is.EqualTo(new[] { ReplicateStatus.Applied }));
        });
    }

    [Test]
    public async Task Replicate_OfADeltaWhileJoining_IsAcknowledgedOnceTheReconciliationPushAppliedIt()
    {
        // n1 served alone in epoch 3; n2 joins it in view 5 and is fresh there: it catches up from n1's push.
        var start = _node.Manager.StartAsync();
        var view5 = await Channel.InstallAsync(5, Arbiter, Self);
        await Channel.DeliverAsync(Arbiter, new Envelope { PrimaryState = ScriptedStoreNode.StateOf(view5, 3, new MembershipView(3, [ScriptedGroupChannel.MemberOf(Arbiter)]), current: true) }, unicast: false);
        await Eventually.Until(() => _node.Log.Entries.Any(e => e.Message.StartsWith("View 5 is primary", StringComparison.Ordinal)), "view 5 decided", _node.Describe);
        Assert.That(_node.Store.Status, Is.EqualTo(ClusterStoreStatus.Joining));
        var id = SessionIds.New(Member.RingIndexOf(Arbiter));

        // A commit of epoch 5 on a session n1's push has not brought yet.
        await Channel.DeliverAsync(Arbiter, Replicate(21, 5, ScriptedStoreNode.Delta(id, 1, 5, 2, Arbiter)));

        Assert.That(VersionOf(id), Is.Zero, "parked: its base is missing");
        Assert.That(_node.AcksFor(21), Is.Empty, "not applied, so not acknowledged");

        // n1's reconciliation push: the copy of version 1, on which the parked delta applies.
        await Channel.DeliverAsync(Arbiter, Replicate(22, 5, copy: ScriptedStoreNode.Copy(id, 1, 3, 1, Arbiter)));

        Assert.Multiple(() =>
        {
            Assert.That(VersionOf(id), Is.EqualTo(2));
            Assert.That(_node.AcksFor(21).Select(a => (a.Status, a.Epoch)), Is.EqualTo(new[] { (ReplicateStatus.Applied, 5L) }), "exactly one acknowledgement, once applied");
            Assert.That(_node.AcksFor(22).Select(a => a.Status), Is.EqualTo(new[] { ReplicateStatus.Applied }), "the push itself");
        });
        await _node.ReconcileAsync(5, Arbiter);
        await _node.HandOffAsync(5, Arbiter);
        await Eventually.Within(start, "n2 caught up and serving");
        Assert.That(_node.AcksFor(21), Has.Count.EqualTo(1), "catching up sends it no second time");
    }
}
