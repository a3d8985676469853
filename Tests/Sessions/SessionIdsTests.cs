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

    [Test]
    public void TryParseOwner_AnyCharacterOutsideTheUrlSafeAlphabet_IsRefused()
    {
        var id = SessionIds.New(7);
        for (var c = (char)0; c < 0x3000; c++)
        {
            var urlSafe = char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_';
            foreach (var at in new[] { 4, 15, SessionIds.Length - 1 })
            {
                var changed = string.Concat(id.AsSpan(0, at), new string(c, 1), id.AsSpan(at + 1));
                Assert.That(SessionIds.TryParseOwner(changed, out _), Is.EqualTo(urlSafe), $"U+{(int)c:X4} at {at}");
            }
        }
    }

    [TestCase("00aB", 0xAB)]
    [TestCase("FFFF", 0xFFFF)]
    [TestCase("0000", 0)]
    public void TryParseOwner_HexPrefixInEitherCase_IsTheOwner(string prefix, int expected)
    {
        var id = prefix + SessionIds.New(0)[4..];

        Assert.That(SessionIds.TryParseOwner(id, out var owner), Is.True);
        Assert.That(owner, Is.EqualTo(expected));
    }

    [TestCase("+001")]
    [TestCase(" 001")]
    [TestCase("0x01")]
    [TestCase("000g")]
    public void TryParseOwner_PrefixNotFourHexDigits_IsRefused(string prefix)
    {
        Assert.That(SessionIds.TryParseOwner(prefix + SessionIds.New(0)[4..], out _), Is.False);
    }
}
