using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Tests.Transports.Udp;
using Multicast.Wire;
using WireAttribute = Multicast.Wire.Attribute;

namespace Multicast.Tests.Stores;

/// <summary>
/// One replica's rules at an exact point of a view change, on a channel the test plays by hand
/// (<see cref="ScriptedGroupChannel"/>): the epoch fence (a replica whose view is still undecided applies nothing
/// from an epoch older than the highest it decided) and what the primary decision logs.
/// </summary>
public sealed class StoreEpochFenceTests
{
    private const string Self = "n2";
    private ScriptedGroupChannel _channel = null!;
    private CapturingLogger<StoreEpochFenceTests> _log = null!;
    private ReplicatedClusterStore _sut = null!;
    private SessionManager _manager = null!;

    [SetUp]
    public void NewReplica()
    {
        _channel = new ScriptedGroupChannel(Self);
        _log = new CapturingLogger<StoreEpochFenceTests>();
        _sut = new ReplicatedClusterStore(_channel, new ClusterStoreOptions { NodeId = Self }, TimeProvider.System, _log);
        _manager = new SessionManager(_sut, new SessionOptions());
    }

    [TearDown]
    public async Task StopReplica() => await _manager.DisposeAsync();

    /// <summary>Installs a view of n1 and this node, and delivers n1's primary state for it: every member's state is in,
    /// so the replica decides (at once: n1 and this node took part in the same primaries).</summary>
    private async Task DecideAsync(long viewId, long lastEpoch, MembershipView? lastPrimary)
    {
        var view = await _channel.InstallAsync(viewId, "n1", Self);
        await _channel.DeliverAsync("n1", new Envelope
        {
            PrimaryState = new PrimaryState
            {
                ViewId = view.Id,
                ViewHash = PrimaryTracker.HashOf(view),
                LastEpoch = lastEpoch,
                LastMembers = lastPrimary is null ? [] : [.. lastPrimary.Members.Select(m => m.NodeId)],
                LastRings = lastPrimary is null ? [] : [.. lastPrimary.Members.Select(m => m.RingIndex)],
            },
        }, unicast: false);
    }

    /// <summary>The replica serves in epoch 3 (view 3), then decides epoch 5 (view 5) with the same members.</summary>
    private async Task<MembershipView> ServeThroughTwoEpochsAsync()
    {
        var start = _manager.StartAsync();
        await DecideAsync(3, 0, null);
        await Eventually.Within(start, "the replica to start serving in view 3");
        Assert.That(_sut.Status, Is.EqualTo(ClusterStoreStatus.Ready));
        var view3 = _channel.View;
        await DecideAsync(5, 3, view3);
        await Eventually.Until(() => _sut.Status == ClusterStoreStatus.Ready && _log.Entries.Any(e => e.Message.Contains("View 5 is primary", StringComparison.Ordinal)),
            "the replica decides view 5");
        return _channel.View;
    }

    private static Envelope NewSessionReplicate(ulong replicationId, long epoch, string id) => new()
    {
        Replicate = new Replicate
        {
            ReplicationId = replicationId,
            Epoch = epoch,
            AckRequested = true,
            Deltas =
            [
                new SessionDelta
                {
                    Id = id,
                    BaseVersion = 0,
                    Version = 1,
                    Epoch = epoch,
                    Token = epoch << 24,
                    Writer = "n1",
                    CommitId = replicationId,
                    IsNew = true,
                    CreatedMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                    LastAccessMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                    Set = [new WireAttribute { Key = "count", Value = BitConverter.GetBytes(1) }],
                },
            ],
        },
    };

    private ReplicateAck? AckFor(ulong replicationId) =>
        _channel.Sent.Where(s => s.To == "n1" && s.Message.ReplicateAck?.ReplicationId == replicationId).Select(s => s.Message.ReplicateAck).FirstOrDefault();

    [Test]
    public async Task Replicate_OfAnOlderEpochWhileTheViewIsUndecided_IsRefusedAndNotApplied()
    {
        await ServeThroughTwoEpochsAsync();
        // A third member appears: until its state arrives the view is undecided (no current epoch to compare with).
        await _channel.InstallAsync(6, "n1", Self, "n3");
        Assert.That(_sut.Status, Is.EqualTo(ClusterStoreStatus.Ready), "deciding a new view keeps the last status");
        var stale = SessionIds.New(Member.RingIndexOf("n1"));

        // n1 resumed from a pause and still acts in epoch 3, which this replica left for epoch 5.
        await _channel.DeliverAsync("n1", NewSessionReplicate(7, 3, stale));

        Assert.That(_manager.Table.Contains(stale), Is.False, "nothing of an epoch older than the fence is applied");
        Assert.That(AckFor(7), Is.Not.Null, "the arbiter is told at once");
        Assert.That(AckFor(7)!.Status, Is.EqualTo(ReplicateStatus.StaleEpoch));
        Assert.That(AckFor(7)!.Epoch, Is.EqualTo(5), "the refusal names the epoch this replica decided");
        Assert.That(_sut.Counters.StaleEpochRefusals, Is.EqualTo(1));

        // The same message from the epoch this replica decided is applied: the refusal above was the fence, not the message.
        var current = SessionIds.New(Member.RingIndexOf("n1"));
        await _channel.DeliverAsync("n1", NewSessionReplicate(8, 5, current));

        Assert.That(_manager.Table.Get(current)?.Version, Is.EqualTo(1));
        Assert.That(AckFor(8)?.Status, Is.EqualTo(ReplicateStatus.Applied));
    }

    [Test]
    public async Task PrimaryDecision_AfterServing_LogsThatThisNodeWasServing()
    {
        await ServeThroughTwoEpochsAsync();

        var decided = _log.Entries.Select(e => e.Message).Where(m => m.StartsWith("View ", StringComparison.Ordinal) && m.Contains("is primary", StringComparison.Ordinal)).ToList();

        Assert.That(decided, Has.Count.EqualTo(2));
        Assert.That(decided[0], Does.Contain("View 3 is primary").And.Contain("was serving: False"), "it was starting");
        Assert.That(decided[1], Does.Contain("View 5 is primary").And.Contain("was serving: True"), "it served in view 3");
    }
}
