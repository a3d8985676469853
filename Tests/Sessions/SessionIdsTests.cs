using Multicast.Sessions;

namespace Multicast.Tests.Sessions;

public sealed class SessionIdsTests
{
    [Test]
    public void New_CarriesOwnerRingIndexAndIsUrlSafe()
    {
        var sut = SessionIds.New(0xBEEF);

        Assert.That(sut, Has.Length.EqualTo(SessionIds.Length));
        Assert.That(sut, Does.Match("^[0-9a-f]{4}[A-Za-z0-9_-]{22}$"));
        Assert.That(SessionIds.TryParseOwner(sut, out var owner), Is.True);
        Assert.That(owner, Is.EqualTo(0xBEEF));
    }

    [Test]
    public void New_IsUnique()
    {
        var ids = Enumerable.Range(0, 10_000).Select(_ => SessionIds.New(1)).ToHashSet();

        Assert.That(ids, Has.Count.EqualTo(10_000));
    }

    [TestCase(null)]
    [TestCase("")]
    [TestCase("zzzzAAAAAAAAAAAAAAAAAAAAAA")]
    [TestCase("0001AAAAAAAAAAAAAAAAAAAA/=")]
    [TestCase("0001AAAA")]
    public void TryParseOwner_Malformed_IsRefused(string? id)
    {
        Assert.That(SessionIds.TryParseOwner(id, out _), Is.False);
    }
}
