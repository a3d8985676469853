using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Tests.Transports.Udp;
using Multicast.Wire;
using WireAttribute = Multicast.Wire.Attribute;

namespace Multicast.Tests.Stores;

/// <summary>
/// An arbiter's answer to a commit it refuses, on a channel the test plays by hand (<see cref="ScriptedGroupChannel"/>):
/// a refused commit changes nothing, and a releasing commit from the lock's holder still releases the lock, so the
/// session's next request is not held up until the lease runs out (issue 10, N14: a request after such a refusal
/// waited the whole lock wait and answered 503).
/// </summary>
public sealed class StoreCommitRefusalTests
{
    private const string Self = "n2";
    private const string Holder = "n1";
    private ScriptedGroupChannel _channel = null!;
    private ReplicatedClusterStore _sut = null!;
    private SessionManager _manager = null!;
    private ulong _acked;
    private CapturingLogger<StoreCommitRefusalTests> _log = null!;

    [SetUp]
    public async Task ServeAsArbiter()
    {
        _channel = new ScriptedGroupChannel(Self);
        _acked = 0; // one fixture instance runs every test
        // No lock wait: a session still locked by the holder is refused at once, so the test needs no timing.
        // A short commit timeout: a commit no arbiter takes gives up after 2 x CommitTimeout + LockWaitTimeout.
        var options = new ClusterStoreOptions { NodeId = Self, LockWaitTimeout = TimeSpan.Zero, CommitTimeout = TimeSpan.FromMilliseconds(300) };
        _sut = new ReplicatedClusterStore(_channel, options, TimeProvider.System, _log = new CapturingLogger<StoreCommitRefusalTests>());
        _manager = new SessionManager(_sut, new SessionOptions());
        var start = _manager.StartAsync();
        var view = await _channel.InstallAsync(3, Holder, Self);
        await _channel.DeliverAsync(Holder, new Envelope
        {
            PrimaryState = new PrimaryState { ViewId = view.Id, ViewHash = PrimaryTracker.HashOf(view) },
        }, unicast: false);
        await Eventually.Within(start, "the arbiter to start serving in view 3");
        // n1's digest (it holds nothing): this node's reconciliation of epoch 3 completes and it arbitrates.
        await _channel.DeliverAsync(Holder, new Envelope { Digest = new Digest { Epoch = 3, Last = true } });
        // n1 takes this node's "done" (asked until answered).
        await Eventually.Until(() => _channel.Sent.Any(s => s.Message.ReconcileDone is not null), "this node's pushes for epoch 3 done");
        var done = _channel.Sent.First(s => s.Message.ReconcileDone is not null).Message.ReconcileDone!;
        if (done.RequestId != 0)
            await _channel.DeliverAsync(Holder, new Envelope { ReconcileAck = new ReconcileAck { RequestId = done.RequestId } });
        await Eventually.Until(() => _log.Entries.Any(e => e.Message.StartsWith("Epoch 3 reconciled here", StringComparison.Ordinal)), "epoch 3 reconciled");
    }

    [TearDown]
    public async Task Stop() => await _manager.DisposeAsync();

    /// <summary>Acknowledges, as the holder, every replication this node sent it so far.</summary>
    private async Task AckReplicationsAsync()
    {
        await Eventually.Until(() => _channel.Sent.Any(s => s.Message.Replicate is { } m && m.ReplicationId > _acked), "the commit sent to the replicas", Sent);
        foreach (var r in _channel.Sent.Where(s => s.Message.Replicate is { } m && m.ReplicationId > _acked).Select(s => s.Message.Replicate!).ToList())
        {
            await _channel.DeliverAsync(Holder, new Envelope { ReplicateAck = new ReplicateAck { ReplicationId = r.ReplicationId, Epoch = r.Epoch, Status = ReplicateStatus.Applied } });
            _acked = Math.Max(_acked, r.ReplicationId);
        }
    }

    private T Reply<T>(Func<Envelope, T?> pick, Func<T, bool> match) where T : class =>
        _channel.Sent.Where(s => s.To == Holder).Select(s => pick(s.Message)).OfType<T>().LastOrDefault(match)
        ?? throw new AssertionException($"No {typeof(T).Name} to {Holder}; sent: {string.Join(", ", _channel.Sent.Select(Describe))}; log: {string.Join(" | ", _log.Entries.Select(e => e.Message))}");

    private string Sent() => $"sent: {string.Join(", ", _channel.Sent.Select(Describe))}; log: {string.Join(" | ", _log.Entries.Select(e => e.Message))}";

    private static string Describe((string? To, Envelope Message) s) =>
        $"{s.To ?? "all"}:{typeof(Envelope).GetProperties().Where(p => p.Name != nameof(Envelope.Version) && p.GetValue(s.Message) is not null).Select(p => p.Name).FirstOrDefault()}";

    private static SessionDelta Delta(string id, long baseVersion, long token, int count, bool isNew = false) => new()
    {
        Id = id,
        BaseVersion = baseVersion,
        Version = baseVersion + 1,
        Token = token,
        Writer = Holder,
        CommitId = (ulong)Random.Shared.NextInt64(1, long.MaxValue),
        IsNew = isNew,
        CreatedMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        LastAccessMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        Set = [new WireAttribute { Key = "count", Value = BitConverter.GetBytes(count) }],
    };

    /// <summary>The holder creates a session this node arbitrates (version 1), then takes its lock: the grant.</summary>
    private async Task<(string Id, LockReply Grant)> CreateAndLockAsHolderAsync()
    {
        var id = SessionIds.New(Member.RingIndexOf(Self));
        await _channel.DeliverAsync(Holder, new Envelope { CommitRequest = new CommitRequest { RequestId = 1, Delta = Delta(id, 0, 0, 1, isNew: true), Release = true } });
        await AckReplicationsAsync();
        await Eventually.Until(() => _channel.Sent.Any(s => s.Message.CommitReply?.RequestId == 1), "the creation answered");
        Assert.That(Reply(e => e.CommitReply, r => r.RequestId == 1).Status, Is.EqualTo(CommitStatus.Applied));
        await _channel.DeliverAsync(Holder, new Envelope { LockRequest = new LockRequest { RequestId = 2, SessionId = id, KnownVersion = 1 } });
        var grant = Reply(e => e.LockReply, r => r.RequestId == 2);
        Assert.That(grant.Status, Is.EqualTo(LockStatus.Granted));
        return (id, grant);
    }

    [Test]
    public async Task ReleasingCommit_OnAStaleBaseByTheLockHolder_IsRefusedAndReleasesTheLock()
    {
        var (id, grant) = await CreateAndLockAsHolderAsync();

        // Under that lock, a releasing commit written on a copy older than the arbiter's (base 0, the arbiter holds 1).
        await _channel.DeliverAsync(Holder, new Envelope { CommitRequest = new CommitRequest { RequestId = 3, Delta = Delta(id, 0, grant.Token, 7), Release = true } });

        Assert.That(Reply(e => e.CommitReply, r => r.RequestId == 3).Status, Is.EqualTo(CommitStatus.StaleToken), "a commit on a stale base is refused");
        Assert.That(_manager.Table.Get(id)?.Version, Is.EqualTo(1), "and changes nothing");
        // The lock is free: the next exclusive request here is granted at once instead of being refused as locked.
        var next = await _manager.BeginRequestAsync(id, SessionAccess.Exclusive);
        Assert.That(next, Is.Not.Null);
        Assert.That(next!.TryGetValue("count", out var count) ? BitConverter.ToInt32(count) : -1, Is.EqualTo(1));
        await _manager.AbortRequestAsync(next);
    }

    [Test]
    public async Task NonReleasingCommit_OnAStaleBaseByTheLockHolder_KeepsTheLock()
    {
        var (id, grant) = await CreateAndLockAsHolderAsync();

        await _channel.DeliverAsync(Holder, new Envelope { CommitRequest = new CommitRequest { RequestId = 3, Delta = Delta(id, 0, grant.Token, 7), Release = false } });

        Assert.That(Reply(e => e.CommitReply, r => r.RequestId == 3).Status, Is.EqualTo(CommitStatus.StaleToken));
        Assert.ThrowsAsync<SessionLockedException>(async () => await _manager.BeginRequestAsync(id, SessionAccess.Exclusive),
            "the holder did not ask to release: the lock stays its own until it releases or the lease runs out");
    }

    [Test]
    public async Task Commit_TheChannelRefusedToSendToTheArbiter_IsNotAppliedAndNotInDoubt()
    {
        // A session n1 arbitrates, replicated here; this node takes its lock from n1.
        var id = SessionIds.New(Member.RingIndexOf(Holder));
        var created = Delta(id, 0, 0, 1, isNew: true);
        created.Epoch = 3;
        await _channel.DeliverAsync(Holder, new Envelope { Replicate = new Replicate { ReplicationId = 9, Epoch = 3, AckRequested = true, Deltas = [created] } });
        Assert.That(_manager.Table.Get(id)?.Version, Is.EqualTo(1));
        var begin = _manager.BeginRequestAsync(id, SessionAccess.Exclusive);
        await Eventually.Until(() => _channel.Sent.Any(s => s.To == Holder && s.Message.LockRequest?.SessionId == id), "the lock requested from n1");
        var request = _channel.Sent.Last(s => s.Message.LockRequest?.SessionId == id).Message.LockRequest!;
        await _channel.DeliverAsync(Holder, new Envelope
        {
            LockReply = new LockReply
            {
                RequestId = request.RequestId, SessionId = id, Status = LockStatus.Granted, Token = (3L << 24) + 1,
                ExpiresMs = DateTimeOffset.UtcNow.AddSeconds(30).ToUnixTimeMilliseconds(), Holder = Self, Version = 1,
            },
        });
        var session = await Eventually.Within(begin, "the lock granted");
        session!.Set("count", BitConverter.GetBytes(2));

        // The channel refuses every send to n1 (as while it rejoins): the commit request never leaves this node.
        _channel.RefuseSendsTo = node => node == Holder;
        var refused = Assert.ThrowsAsync<ClusterUnavailableException>(async () => await _manager.EndRequestAsync(session),
            "nothing was sent, so nothing can have been applied: a plain refusal (503), not a commit in doubt (500)");

        Assert.That(refused!.Message, Does.Contain("nothing was applied"));
        Assert.That(_channel.Sent.Where(s => s.Message.CommitRequest is not null), Is.Empty);
        Assert.That(_sut.Counters.InDoubt, Is.Zero);
    }
}
