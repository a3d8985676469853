using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Tests.Transports.Udp;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

/// <summary>
/// Issue 10, finding 9: the work a view change starts in proportion to the sessions (the digests of what this node
/// holds, the state transfer of every copy to a joiner) runs on tracked background tasks, never on the channel's
/// receive thread, so a node busy with it still hears its peers. On a channel the test plays by hand
/// (<see cref="ScriptedGroupChannel"/>): the test thread is the receive thread while it delivers, and the channel
/// records what the store sent from inside a delivery.
/// </summary>
public sealed class StoreReceiveThreadTests
{
    private const string Self = "n2";
    private const string Joiner = "n1";
    private const int Sessions = 10_000;

    [Test]
    public async Task ViewChange_WithManySessions_DigestsAndPushesRunOffTheReceiveThread([Values(true, false)] bool ring)
    {
        await using var node = new ScriptedStoreNode(Self, ring);
        var (channel, log, manager) = (node.Channel, node.Log, node.Manager);
        var start = manager.StartAsync();
        await channel.InstallAsync(1, Self);
        await Eventually.Within(start, "the lone node to serve in view 1");
        // Sessions this node arbitrates, of which the joiner becomes a holder (the ring's backup, or every member).
        var now = DateTimeOffset.UtcNow;
        for (var i = 0; i < Sessions; i++)
        {
            manager.Table.Set(new SessionState
            {
                Id = SessionIds.New(Member.RingIndexOf(Self)),
                Version = 1,
                Epoch = 1,
                CreatedAt = now,
                LastAccessedAt = now,
                Attributes = new Dictionary<string, byte[]>(StringComparer.Ordinal) { ["count"] = BitConverter.GetBytes(i) },
            });
        }

        // A joiner: the view, then its state (it remembers no primary). The last delivery decides the view and starts
        // this node's reconciliation: a digest to the joiner, then every copy pushed to it.
        var view = await channel.InstallAsync(2, Joiner, Self);
        await channel.DeliverAsync(Joiner, new Envelope { PrimaryState = new PrimaryState { ViewId = view.Id, ViewHash = PrimaryTracker.HashOf(view) } }, unicast: false);
        await Eventually.Until(() => channel.Sent.Any(s => s.To == Joiner && s.Message.Digest is { Last: true }), "this node's digest to the joiner");
        var epoch = channel.Sent.First(s => s.Message.Digest is not null).Message.Digest!.Epoch;
        await channel.DeliverAsync(Joiner, new Envelope { Digest = new Digest { Epoch = epoch, Last = true } });
        await Eventually.Until(() => Pushes(channel).Count > 0, "the first copies pushed to the joiner");

        // The pushes are not acknowledged, so the state transfer cannot end (the reconciliation is logged only after
        // it); the receive thread is free meanwhile: a peer's ask is answered while it is delivered.
        Assert.That(log.Entries.Any(e => e.Message.StartsWith($"Epoch {epoch} reconciled here", StringComparison.Ordinal)), Is.False,
            "the state transfer is still under way");
        await channel.DeliverAsync(Joiner, new Envelope { PrimaryState = new PrimaryState { ViewId = view.Id, ViewHash = PrimaryTracker.HashOf(view), Ask = true } });
        Assert.That(channel.SentOnReceiveThread.Any(m => m.PrimaryState is { ViewId: var id } && id == view.Id), Is.True,
            "a busy node hears its peers: the ask is answered on the receive thread");

        // The joiner acknowledges each chunk (and the "done"), as it applies them.
        var answered = new HashSet<ulong>();
        await Eventually.Until(() =>
        {
            foreach (var s in channel.Sent.Where(s => s.To == Joiner))
            {
                var request = s.Message.Replicate is { Copies.Count: > 0 } push ? new Envelope { ReplicateAck = new ReplicateAck { ReplicationId = push.ReplicationId, Epoch = push.Epoch, Status = ReplicateStatus.Applied } }
                    : s.Message.ReconcileDone is { RequestId: not 0 } done ? new Envelope { ReconcileAck = new ReconcileAck { RequestId = done.RequestId } }
                    : null;
                var key = s.Message.Replicate?.ReplicationId ?? s.Message.ReconcileDone?.RequestId ?? 0;
                if (request is not null && answered.Add(key))
                    channel.DeliverAsync(Joiner, request).GetAwaiter().GetResult(); // the handler runs synchronously
            }
            return log.Entries.Any(e => e.Message.StartsWith($"Epoch {epoch} reconciled here", StringComparison.Ordinal));
        }, "the state transfer to the joiner to end");

        Assert.That(Pushes(channel).SelectMany(p => p.Copies).Select(c => c.Id).Distinct().Count(), Is.EqualTo(Sessions),
            "every session was transferred");
        var inline = channel.SentOnReceiveThread;
        Assert.That(inline.Where(m => m.Digest is not null), Is.Empty, "a digest (a scan of every session) was made on the receive thread");
        Assert.That(inline.Where(m => m.Replicate is { Copies.Count: > 0 }), Is.Empty, "copies were pushed from the receive thread");
    }

    /// <summary>The state-transfer chunks sent to the joiner, each once (one sent again keeps its id).</summary>
    private static List<Replicate> Pushes(ScriptedGroupChannel channel) =>
        [.. channel.Sent.Where(s => s.To == Joiner && s.Message.Replicate is { Copies.Count: > 0 }).Select(s => s.Message.Replicate!).DistinctBy(r => r.ReplicationId)];
}
