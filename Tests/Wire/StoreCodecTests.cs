using Multicast.Sessions;
using Multicast.Wire;
using ProtoBuf;
using Attribute = Multicast.Wire.Attribute;

namespace Multicast.Tests.Wire;

public sealed class StoreCodecTests
{
    private static SessionDelta Delta(string id = "0001abc", long baseVersion = 3, int bytes = 1) => new()
    {
        Id = id,
        BaseVersion = baseVersion,
        Version = baseVersion + 1,
        Epoch = 2,
        Token = 9,
        Writer = "node1",
        CommitId = 77,
        Set = [new Attribute { Key = "k", Value = new byte[bytes] }],
        RemovedKeys = ["gone"],
    };

    [Test]
    public void Replicate_RoundTrips()
    {
        var message = new Replicate { ReplicationId = 5, Epoch = 2, Deltas = [Delta()], AckRequested = true };

        var bytes = StoreCodec.Encode(new Envelope { Replicate = message });

        Assert.That(StoreCodec.TryDecode(bytes, 1024, out var decoded), Is.True);
        var d = decoded.Replicate!.Deltas.Single();
        Assert.That((d.Id, d.BaseVersion, d.Version, d.Epoch, d.Token, d.Writer, d.CommitId), Is.EqualTo(("0001abc", 3L, 4L, 2L, 9L, "node1", 77UL)));
        Assert.That(d.Set.Single().Key, Is.EqualTo("k"));
        Assert.That(d.RemovedKeys, Is.EqualTo(new[] { "gone" }));
        Assert.That(decoded.Replicate.AckRequested, Is.True);
    }

    [Test]
    public void Garbage_IsRefusedWithoutThrowing()
    {
        var random = new Random(7);
        for (var i = 0; i < 2000; i++)
        {
            var garbage = new byte[random.Next(0, 200)];
            random.NextBytes(garbage);
            Assert.DoesNotThrow(() => StoreCodec.TryDecode(garbage, 1024, out _));
        }
    }

    [Test]
    public void TruncatedMessages_AreRefusedWithoutThrowing()
    {
        var bytes = StoreCodec.Encode(new Envelope { Replicate = new Replicate { ReplicationId = 5, Epoch = 2, Deltas = [Delta(), Delta("0001abd")] } });
        for (var length = 0; length < bytes.Length; length++)
            Assert.DoesNotThrow(() => StoreCodec.TryDecode(bytes.AsSpan(0, length), 1024, out _), $"{length} of {bytes.Length} bytes");
    }

    [Test]
    public void UnknownVersion_IsRefused()
    {
        using var stream = new MemoryStream();
        Serializer.Serialize(stream, new Envelope { Version = 99, LockRelease = new LockRelease { SessionId = "x", Token = 1 } });

        Assert.That(StoreCodec.TryDecode(stream.ToArray(), 1024, out _), Is.False);
    }

    [Test]
    public void TwoBodies_AreRefused()
    {
        var bytes = StoreCodec.Encode(new Envelope { LockRelease = new LockRelease { SessionId = "x", Token = 1 }, LockCancel = new LockCancel { SessionId = "x" } });

        Assert.That(StoreCodec.TryDecode(bytes, 1024, out _), Is.False);
    }

    [Test]
    public void OverLimitDelta_IsRefused()
    {
        var bytes = StoreCodec.Encode(new Envelope { CommitRequest = new CommitRequest { RequestId = 1, Delta = Delta(bytes: 5000) } });

        Assert.That(StoreCodec.TryDecode(bytes, 4096, out _), Is.False);
        Assert.That(StoreCodec.TryDecode(bytes, 8192, out _), Is.True);
    }

    [Test]
    public void OverlongSessionId_IsRefused()
    {
        var bytes = StoreCodec.Encode(new Envelope { LockRelease = new LockRelease { SessionId = new string('x', 500), Token = 1 } });

        Assert.That(StoreCodec.TryDecode(bytes, 1024, out _), Is.False);
    }

    [Test]
    public void DeltaWhoseBaseIsNotBelowItsVersion_IsRefused()
    {
        var d = Delta();
        d.BaseVersion = d.Version;

        Assert.That(StoreCodec.TryDecode(StoreCodec.Encode(new Envelope { CommitRequest = new CommitRequest { Delta = d } }), 1024, out _), Is.False);
    }

    [Test]
    public void UndefinedEnumValue_IsRefused()
    {
        var bytes = StoreCodec.Encode(new Envelope { ReplicateAck = new ReplicateAck { ReplicationId = 1, Status = (ReplicateStatus)42 } });

        Assert.That(StoreCodec.TryDecode(bytes, 1024, out _), Is.False);
    }

    [Test]
    public void SizeAfter_MatchesTheAppliedState()
    {
        var state = new SessionState
        {
            Id = "s",
            Version = 1,
            Attributes = new Dictionary<string, byte[]> { ["a"] = new byte[10], ["b"] = new byte[20] },
        };
        var delta = new SessionDelta
        {
            Id = "s",
            BaseVersion = 1,
            Version = 2,
            Writer = "n",
            Set = [new Attribute { Key = "a", Value = new byte[15] }, new Attribute { Key = "c", Value = new byte[5] }],
            RemovedKeys = ["b"],
        };

        var applied = StoreCodec.Apply(state, delta);

        Assert.That(StoreCodec.SizeAfter(state, delta), Is.EqualTo(applied.Size));
        Assert.That(applied.Attributes.Keys, Is.EquivalentTo(new[] { "a", "c" }));
        Assert.That(applied.Version, Is.EqualTo(2));
    }

    [Test]
    public void Apply_RemembersTheLastCommitIds_NewestLast()
    {
        var state = new SessionState { Id = "s", Version = 0 };
        for (var i = 1; i <= StoreCodec.RecentCommitCount + 3; i++)
            state = StoreCodec.Apply(state, new SessionDelta { Id = "s", BaseVersion = i - 1, Version = i, Writer = "n", CommitId = (ulong)i, IsNew = i == 1 });

        Assert.That(state.RecentCommits, Has.Length.EqualTo(StoreCodec.RecentCommitCount));
        Assert.That(state.RecentCommits[^1], Is.EqualTo((ulong)(StoreCodec.RecentCommitCount + 3)));
        Assert.That(state.RecentCommits[0], Is.EqualTo(4UL));
    }

    [Test]
    public void Copy_RoundTripsEveryField()
    {
        var state = new SessionState
        {
            Id = "0001abc",
            Version = 7,
            Epoch = 3,
            Token = 11,
            LastWriter = "n2",
            CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(1000),
            LastAccessedAt = DateTimeOffset.FromUnixTimeMilliseconds(2000),
            IdleTimeout = TimeSpan.FromMinutes(3),
            Attributes = new Dictionary<string, byte[]> { ["k"] = [1, 2, 3] },
            RecentCommits = [5, 6],
        };

        var bytes = StoreCodec.Encode(new Envelope { FetchReply = new FetchReply { Copies = [StoreCodec.ToCopy(state)] } });
        Assert.That(StoreCodec.TryDecode(bytes, 1024, out var decoded), Is.True);
        var back = StoreCodec.FromCopy(decoded.FetchReply!.Copies.Single());

        Assert.That((back.Id, back.Version, back.Epoch, back.Token, back.LastWriter), Is.EqualTo((state.Id, 7L, 3L, 11L, "n2")));
        Assert.That((back.CreatedAt, back.LastAccessedAt, back.IdleTimeout), Is.EqualTo((state.CreatedAt, state.LastAccessedAt, state.IdleTimeout)));
        Assert.That(back.Attributes["k"], Is.EqualTo(new byte[] { 1, 2, 3 }));
        Assert.That(back.RecentCommits, Is.EqualTo(new ulong[] { 5, 6 }));
    }

    [Test]
    public void HoldReply_WithAnOverlongSessionId_IsRefused()
    {
        var fine = StoreCodec.Encode(new Envelope { HoldRequest = new HoldRequest { RequestId = 1, Entries = [new HoldEntry { SessionId = "0001abc", Version = 3 }] } });
        var refused = StoreCodec.Encode(new Envelope { HoldReply = new HoldReply { RequestId = 1, Droppable = [new string('x', 100)] } });

        Assert.That(StoreCodec.TryDecode(fine, 4096, out _), Is.True);
        Assert.That(StoreCodec.TryDecode(refused, 4096, out _), Is.False);
    }
}
