using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Tests.Transports.Udp;
using Multicast.Wire;
using WireAttribute = Multicast.Wire.Attribute;

namespace Multicast.Tests.Stores;

/// <summary>
/// A holder whose session's arbiter takes its requests and never answers (paused, or its answers lost for good), on a
/// channel the test plays by hand (<see cref="ScriptedGroupChannel"/>) and a clock the test moves: an exclusive find
/// and a commit each end at their deadline with the exception <see cref="IClusterStore"/> documents, after a bounded
/// number of requests (issue 10, finding 8: retries without delay or deadline).
/// </summary>
public sealed class StoreUnansweredArbiterTests
{
    private const string Self = "n2";
    private const string Arbiter = "n1";
    private static readonly TimeSpan CommitTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LockWaitTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(100);

    private ManualTimeProvider _time = null!;
    private ScriptedStoreNode _node = null!;
    private long _epoch;

    private ScriptedGroupChannel Channel => _node.Channel;

    private SessionManager Manager => _node.Manager;

    private ArbitratedClusterStore Store => _node.Store;

    /// <summary>This node and the arbiter serve in view 3; the arbiter answers only what the view change needs.</summary>
    [SetUp]
    public async Task ServeBesideTheArbiter()
    {
        _time = new ManualTimeProvider();
        _node = new ScriptedStoreNode(Self, ring: false, o =>
        {
            o.CommitTimeout = CommitTimeout;
            o.LockWaitTimeout = LockWaitTimeout;
        }, _time);
        _epoch = 3; // a first view: nobody was primary before, so its epoch is its id
        await _node.ServeFirstViewAsync(_epoch, Arbiter);
    }

    /// <summary>Stopping waits for work in flight on this clock (a commit, a push): the clock moves until it is done.</summary>
    [TearDown]
    public async Task Stop() => await _time.AdvanceWhilePending(Manager.DisposeAsync().AsTask(), TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(5));

    /// <summary>A session the arbiter created (version 1), replicated here.</summary>
    private async Task<string> SessionOfTheArbiterAsync()
    {
        var id = SessionIds.New(Member.RingIndexOf(Arbiter));
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var created = new SessionDelta
        {
            Id = id, BaseVersion = 0, Version = 1, Epoch = _epoch, Token = 0, Writer = Arbiter, CommitId = 5, IsNew = true,
            CreatedMs = now, LastAccessMs = now, Set = [new WireAttribute { Key = "count", Value = BitConverter.GetBytes(1) }],
        };
        await Channel.DeliverAsync(Arbiter, new Envelope { Replicate = new Replicate { ReplicationId = 9, Epoch = _epoch, AckRequested = true, Deltas = [created] } });
        Assert.That(Manager.Table.Get(id)?.Version, Is.EqualTo(1));
        return id;
    }

    private int SentToTheArbiter(Func<Envelope, bool> kind) => Channel.Sent.Count(s => s.To == Arbiter && kind(s.Message));

    private string Describe() => _node.Describe();

    [Test]
    public async Task ExclusiveFind_TheArbiterNeverAnswers_EndsAtItsDeadlineAsSessionLocked()
    {
        var id = await SessionOfTheArbiterAsync();
        var started = _time.GetUtcNow();
        // The lock wait plus a commit timeout: the longest a grant may take to come (the default policy waits).
        var deadline = LockWaitTimeout + CommitTimeout;

        var find = Manager.BeginRequestAsync(id, SessionAccess.Exclusive);
        var thrown = Assert.ThrowsAsync<SessionLockedException>(async () => await _time.AdvanceWhilePending(find, Step, deadline * 3), Describe());

        var took = _time.GetUtcNow() - started;
        Assert.That(thrown!.Message, Does.Contain("no grant within"));
        Assert.That(took, Is.GreaterThanOrEqualTo(deadline).And.LessThanOrEqualTo(deadline + Step), "it waited for its deadline, and no longer");
        Assert.That(SentToTheArbiter(m => m.LockRequest is not null), Is.EqualTo(1), $"one request, not a retry per step; {Describe()}");
        Assert.That(SentToTheArbiter(m => m.LockCancel?.SessionId == id), Is.EqualTo(1), "the arbiter is told to stop waiting: a late grant is not kept");
    }

    /// <summary>The arbiter grants this node the session's lock (the last thing it answers); the session, changed.</summary>
    private async Task<Session> LockedAndChangedAsync(string id)
    {
        var begin = Manager.BeginRequestAsync(id, SessionAccess.Exclusive);
        await Eventually.Until(() => Channel.Sent.Any(s => s.To == Arbiter && s.Message.LockRequest?.SessionId == id), "the lock requested from the arbiter");
        var request = Channel.Sent.Last(s => s.Message.LockRequest?.SessionId == id).Message.LockRequest!;
        await Channel.DeliverAsync(Arbiter, new Envelope
        {
            LockReply = new LockReply
            {
                RequestId = request.RequestId, SessionId = id, Status = LockStatus.Granted, Token = (_epoch << 24) + 1,
                ExpiresMs = _time.GetUtcNow().AddMinutes(5).ToUnixTimeMilliseconds(), Holder = Self, Version = 1,
            },
        });
        var session = await Eventually.Within(begin, "the lock granted");
        session!.Set("count", BitConverter.GetBytes(2));
        return session;
    }

    [Test]
    public async Task Commit_TheArbiterNeverAnswers_EndsAtItsDeadlineInDoubt()
    {
        var id = await SessionOfTheArbiterAsync();
        var session = await LockedAndChangedAsync(id);
        var started = _time.GetUtcNow();
        // Two commit timeouts for the arbiter's answer, and a lock wait for the next arbiter to say whether it applied.
        var deadline = CommitTimeout + CommitTimeout + LockWaitTimeout;

        var commit = Manager.EndRequestAsync(session);
        var thrown = Assert.ThrowsAsync<CommitInDoubtException>(async () => await _time.AdvanceWhilePending(commit, Step, deadline * 3),
            $"sent and never answered: it may have been applied, so not a plain refusal; {Describe()}");

        var took = _time.GetUtcNow() - started;
        Assert.That(thrown!.SessionId, Is.EqualTo(id));
        Assert.That(took, Is.GreaterThanOrEqualTo(deadline).And.LessThanOrEqualTo(deadline + CommitTimeout + Step), "it ended at its deadline (the outcome query under way finishes first)");
        Assert.That(SentToTheArbiter(m => m.CommitRequest is not null), Is.EqualTo(1), $"submitted once; {Describe()}");
        // Each outcome query waits a commit timeout for its answer: at most one per commit timeout of the time left.
        var queries = SentToTheArbiter(m => m.OutcomeRequest is not null);
        Assert.That(queries, Is.InRange(1, 1 + (int)(LockWaitTimeout / CommitTimeout)), $"asked whether it applied, paced; {Describe()}");
        Assert.That(Store.Counters.InDoubt, Is.EqualTo(1));
    }

    [Test]
    public async Task Commit_TheChannelCannotReachTheArbiter_RetriesWithPausesUntilItsDeadline()
    {
        var id = await SessionOfTheArbiterAsync();
        var session = await LockedAndChangedAsync(id);
        // Every send to the arbiter is refused at once (as while the channel rejoins): each attempt fails without a wait
        // of its own, so only the back-off between attempts keeps this from spinning.
        Channel.RefuseSendsTo = node => node == Arbiter;
        var deadline = CommitTimeout + CommitTimeout + LockWaitTimeout;

        // On a pool thread: a retry loop without pauses would never yield back to this one.
        var commit = Task.Run(() => Manager.EndRequestAsync(session));
        var thrown = Assert.ThrowsAsync<ClusterUnavailableException>(async () => await _time.AdvanceWhilePending(commit, Step, deadline * 3), Describe());

        Assert.That(thrown!.Message, Does.Contain("nothing was applied"), "never sent, so a plain refusal");
        // Each pause waits on the store's clock, which moves a step at a time: a handful of attempts per step at first
        // (the pauses start at 2 ms and double), then one per step.
        var steps = (int)(deadline / Step);
        Assert.That(Channel.Refused.Count, Is.InRange(2, steps + 10), "attempts paced by the back-off, not a spin");
        Assert.That(Store.Counters.InDoubt, Is.Zero);
    }
}
