using Google.Protobuf;
using Multicast.Sessions;
using Multicast.Wire;
using Attribute = Multicast.Wire.Attribute;

namespace Multicast.Tests.Wire;

public sealed class StoreCodecTests
{
    [Test]
    public void Update_RoundTrips()
    {
        var update = new Update { SessionId = "0001abc", BaseVersion = 3, Version = 4, Token = 9, Writer = "node1", Exists = true };
        update.Set.Add(new Attribute { Key = "k", Value = ByteString.CopyFromUtf8("v") });
        update.Removed.Add("gone");

        var bytes = StoreCodec.Encode(new Envelope { Update = update });

        Assert.That(StoreCodec.TryDecode(bytes, 1024, out var decoded), Is.True);
        Assert.That(decoded.Update, Is.EqualTo(update));
    }

    [Test]
    public void Garbage_IsRefusedWithoutThrowing()
    {
        var random = new Random(7);
        for (var i = 0; i < 1000; i++)
        {
            var garbage = new byte[random.Next(0, 200)];
            random.NextBytes(garbage);
            Assert.DoesNotThrow(() => StoreCodec.TryDecode(garbage, 1024, out _));
        }
    }

    [Test]
    public void UnknownVersion_IsRefused()
    {
        var bytes = new Envelope { Version = 99, Release = new Release { SessionId = "x", Token = 1 } }.ToByteArray();

        Assert.That(StoreCodec.TryDecode(bytes, 1024, out _), Is.False);
    }

    [Test]
    public void OverLimitDelta_IsRefused()
    {
        var update = new Update { SessionId = "s", Version = 1, Writer = "n", Exists = true };
        update.Set.Add(new Attribute { Key = "k", Value = ByteString.CopyFrom(new byte[5000]) });

        Assert.That(StoreCodec.TryDecode(StoreCodec.Encode(new Envelope { Update = update }), 4096, out _), Is.False);
    }

    [Test]
    public void OverlongSessionId_IsRefused()
    {
        var bytes = StoreCodec.Encode(new Envelope { Release = new Release { SessionId = new string('x', 500), Token = 1 } });

        Assert.That(StoreCodec.TryDecode(bytes, 1024, out _), Is.False);
    }

    [Test]
    public void SizeAfter_MatchesTheAppliedRecord()
    {
        var record = new SessionState
        {
            Id = "s",
            Version = 1,
            Attributes = new Dictionary<string, byte[]> { ["a"] = new byte[10], ["b"] = new byte[20] },
            Size = 2 + 30,
        };
        var delta = new Update { SessionId = "s", BaseVersion = 1, Version = 2, Writer = "n", Exists = true };
        delta.Set.Add(new Attribute { Key = "a", Value = ByteString.CopyFrom(new byte[15]) });
        delta.Set.Add(new Attribute { Key = "c", Value = ByteString.CopyFrom(new byte[5]) });
        delta.Removed.Add("b");

        var applied = StoreCodec.Apply(record, delta);

        Assert.That(StoreCodec.SizeAfter(record, delta), Is.EqualTo(applied.Size));
        Assert.That(applied.Attributes.Keys, Is.EquivalentTo(new[] { "a", "c" }));
        Assert.That(applied.Version, Is.EqualTo(2));
    }

    [Test]
    public void Replicate_WithAnOverLimitUpdate_IsRefused()
    {
        var ok = new Update { SessionId = "0001abc", Version = 2, BaseVersion = 1, Writer = "n", Exists = true };
        var big = new Update { SessionId = "0001abd", Version = 1, Writer = "n", Exists = true, Full = true };
        big.Set.Add(new Attribute { Key = "k", Value = ByteString.CopyFrom(new byte[5000]) });

        var fine = StoreCodec.Encode(new Envelope { Replicate = new Replicate { RequestId = 1, Updates = { ok } } });
        var refused = StoreCodec.Encode(new Envelope { Replicate = new Replicate { RequestId = 2, Updates = { ok, big } } });

        Assert.That(StoreCodec.TryDecode(fine, 4096, out var decoded), Is.True);
        Assert.That(decoded.Replicate.Updates.Single(), Is.EqualTo(ok));
        Assert.That(StoreCodec.TryDecode(refused, 4096, out _), Is.False);
    }

    [Test]
    public void HoldRequest_WithAnOverlongSessionId_IsRefused()
    {
        var fine = StoreCodec.Encode(new Envelope { HoldRequest = new HoldRequest { RequestId = 1, Entries = { new HoldEntry { SessionId = "0001abc", Version = 3 } } } });
        var refused = StoreCodec.Encode(new Envelope { HoldReply = new HoldReply { RequestId = 1, Held = { new string('x', 100) } } });

        Assert.That(StoreCodec.TryDecode(fine, 4096, out _), Is.True);
        Assert.That(StoreCodec.TryDecode(refused, 4096, out _), Is.False);
    }
}
