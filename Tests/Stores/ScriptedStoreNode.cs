using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Tests.Transports.Udp;
using Multicast.Wire;
using WireAttribute = Multicast.Wire.Attribute;

namespace Multicast.Tests.Stores;

/// <summary>
/// One store node, either store, on a <see cref="ScriptedGroupChannel"/>: the test plays its peers (their primary
/// states, digests, commits and acknowledgements) by hand. Every message is handled on the delivering thread, so what the
/// node sent in answer is in <see cref="ScriptedGroupChannel.Sent"/> when the delivery returns.
/// </summary>
internal sealed class ScriptedStoreNode : IAsyncDisposable
{
    /// <param name="time">The node's clock (the system's unless a test moves it).</param>
    public ScriptedStoreNode(string nodeId, bool ring, Action<ClusterStoreOptions>? configure = null, TimeProvider? time = null)
    {
        Channel = new ScriptedGroupChannel(nodeId);
        var options = new ClusterStoreOptions { NodeId = nodeId };
        configure?.Invoke(options);
        time ??= TimeProvider.System;
        Store = ring
            ? new RingClusterStore(Channel, options, time, Log)
            : new ReplicatedClusterStore(Channel, options, time, Log);
        Manager = new SessionManager(Store, new SessionOptions(), time);
    }

    public string NodeId => Channel.LocalMember.NodeId;

    public ScriptedGroupChannel Channel { get; }

    public ArbitratedClusterStore Store { get; }

    public SessionManager Manager { get; }

    public CapturingLogger<ScriptedStoreNode> Log { get; } = new();

    public ValueTask DisposeAsync() => Manager.DisposeAsync();

    /// <summary>Starts the node in a first view of <paramref name="peers"/> and itself (nobody was ever primary, so the
    /// epoch is the view's id) and plays the peers' part of its reconciliation: it serves, arbitrating the sessions of its
    /// ring index.</summary>
    public async Task ServeFirstViewAsync(long viewId, params string[] peers)
    {
        var start = Manager.StartAsync();
        var view = await Channel.InstallAsync(viewId, [.. peers, NodeId]);
        foreach (var peer in peers)
            await Channel.DeliverAsync(peer, new Envelope { PrimaryState = StateOf(view) }, unicast: false);
        await Eventually.Within(start, $"{NodeId} serving in view {viewId}");
        await ReconcileAsync(viewId, peers);
    }

    /// <summary>A peer's primary state for <paramref name="view"/>: it took part in <paramref name="lastPrimary"/> (epoch
    /// <paramref name="lastEpoch"/>; none by default) with this node's write concern, and comes straight from it when
    /// <paramref name="current"/>.</summary>
    public static PrimaryState StateOf(MembershipView view, long lastEpoch = 0, MembershipView? lastPrimary = null, bool current = false) => new()
    {
        ViewId = view.Id,
        ViewHash = PrimaryTracker.HashOf(view),
        LastEpoch = lastEpoch,
        LastMembers = lastPrimary is null ? [] : [.. lastPrimary.Members.Select(m => m.NodeId)],
        LastRings = lastPrimary is null ? [] : [.. lastPrimary.Members.Select(m => m.RingIndex)],
        Current = current,
        WriteConcern = ClusterStoreOptions.DefaultReplicationAcks,
    };

    /// <summary>Plays the peers' part of this node's reconciliation of <paramref name="epoch"/>: each holds nothing this
    /// node arbitrates (an empty digest), has pushed it nothing ("done"), and takes this node's "done".</summary>
    public async Task ReconcileAsync(long epoch, params string[] peers)
    {
        foreach (var peer in peers)
        {
            await Channel.DeliverAsync(peer, new Envelope { Digest = new Digest { Epoch = epoch, Last = true } });
            await Channel.DeliverAsync(peer, new Envelope { ReconcileDone = new ReconcileDone { Epoch = epoch } });
        }
        foreach (var peer in peers)
        {
            await Eventually.Until(() => DoneTo(peer, epoch) is not null, $"{NodeId}'s pushes to {peer} for epoch {epoch} done", Describe);
            await Channel.DeliverAsync(peer, new Envelope { ReconcileAck = new ReconcileAck { RequestId = DoneTo(peer, epoch)!.RequestId } });
        }
        await Eventually.Until(() => Log.Entries.Any(e => e.Message.StartsWith($"Epoch {epoch} reconciled here", StringComparison.Ordinal)),
            $"epoch {epoch} reconciled at {NodeId}", Describe);
    }

    /// <summary>Every member caught up, this node begins the hand-off round in the view (docs/stores.md): the peers'
    /// states for it are its own, as they come from the same primary.</summary>
    public async Task HandOffAsync(long viewId, params string[] peers)
    {
        PrimaryState? Own() => Channel.Sent.Where(s => s.To is null).Select(s => s.Message.PrimaryState).LastOrDefault(p => p?.ViewId == viewId && p.Round == 1);
        await Eventually.Until(() => Own() is not null, $"{NodeId} begins the hand-off round of view {viewId}", Describe);
        foreach (var peer in peers)
            await Channel.DeliverAsync(peer, new Envelope { PrimaryState = Own() }, unicast: false);
    }

    private ReconcileDone? DoneTo(string peer, long epoch) =>
        Channel.Sent.Where(s => s.To == peer).Select(s => s.Message.ReconcileDone).LastOrDefault(d => d?.Epoch == epoch);

    /// <summary>The acknowledgements this node sent for one replication.</summary>
    public List<ReplicateAck> AcksFor(ulong replicationId) =>
        [.. Channel.Sent.Select(s => s.Message.ReplicateAck).OfType<ReplicateAck>().Where(a => a.ReplicationId == replicationId)];

    /// <summary>A committed change of one session as its arbiter <paramref name="writer"/> sequenced it in
    /// <paramref name="epoch"/>: version <paramref name="baseVersion"/> + 1, setting <c>count</c>.</summary>
    public static SessionDelta Delta(string id, long baseVersion, long epoch, int count, string writer) => new()
    {
        Id = id,
        BaseVersion = baseVersion,
        Version = baseVersion + 1,
        Epoch = epoch,
        Token = epoch << 24,
        Writer = writer,
        CommitId = (ulong)Random.Shared.NextInt64(1, long.MaxValue),
        IsNew = baseVersion == 0,
        CreatedMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        LastAccessMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        Set = [new WireAttribute { Key = "count", Value = BitConverter.GetBytes(count) }],
    };

    /// <summary>Version <paramref name="version"/> of one session as a whole copy (an arbiter's answer, a push).</summary>
    public static SessionCopy Copy(string id, long version, long epoch, int count, string writer) => new()
    {
        Id = id,
        Version = version,
        Epoch = epoch,
        Token = epoch << 24,
        Writer = writer,
        CreatedMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        LastAccessMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        Attributes = [new WireAttribute { Key = "count", Value = BitConverter.GetBytes(count) }],
    };

    /// <summary>What the node sent and what the channel refused, by kind, and its log: for failure messages.</summary>
    public string Describe() =>
        $"sent: {string.Join(", ", Channel.Sent.Select(s => $"{s.To ?? "all"}:{StoreCodec.KindOf(s.Message)}"))}; "
        + $"refused: {string.Join(", ", Channel.Refused.Select(s => $"{s.To}:{StoreCodec.KindOf(s.Message)}"))}; "
        + $"log: {string.Join(" | ", Log.Entries.Select(e => e.Message))}";
}
