using Multicast.Bench.SessionCost;

namespace Multicast.Tests.Tools.Bench;

/// <summary>The session benchmark's baselines: the attribute blob the database keeps, and the dictionary floor's locking.</summary>
public sealed class SessionBaselineTests
{
    [Test]
    public void Decode_OfEncode_GivesTheSameAttributes()
    {
        var attributes = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            ["count"] = SessionCodec.CountValue(41),
            ["data"] = Enumerable.Range(0, 1024).Select(i => (byte)i).ToArray(),
            ["ünïcode"] = [],
        };

        var sut = SessionCodec.Decode(SessionCodec.Encode(attributes));

        Assert.That(sut.Keys, Is.EquivalentTo(attributes.Keys));
        foreach (var (key, value) in attributes)
            Assert.That(sut[key], Is.EqualTo(value), key);
        Assert.That(SessionCodec.ReadCount(sut), Is.EqualTo(41));
    }

    [Test]
    public async Task IncrementAsync_ConcurrentRequestsOnOneSession_NoneIsLost()
    {
        var sut = new DictionaryBackend();
        var id = await sut.CreateAsync(new byte[16], CancellationToken.None);

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < 500; i++)
                await sut.IncrementAsync(id, CancellationToken.None);
        })));

        Assert.That(await sut.ReadAsync(id, CancellationToken.None), Is.EqualTo(4000));
    }
}
