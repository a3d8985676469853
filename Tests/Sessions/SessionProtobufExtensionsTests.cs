using System.Text;
using Multicast.Sessions;
using ProtoBuf;

namespace Multicast.Tests.Sessions;

public sealed class SessionProtobufExtensionsTests
{
    [ProtoContract]
    public sealed class Cart
    {
        [ProtoMember(1)]
        public Guid Id { get; set; }

        [ProtoMember(2)]
        public List<Line> Lines { get; set; } = [];
    }

    [ProtoContract]
    public sealed class Line
    {
        [ProtoMember(1)]
        public string Sku { get; set; } = string.Empty;

        [ProtoMember(2)]
        public int Quantity { get; set; }
    }

    public sealed class NotAContract
    {
        public string Name { get; set; } = string.Empty;
    }

    private static Session NewSession() =>
        new(SessionState.Create("0001AAAAAAAAAAAAAAAAAAAAAA", DateTimeOffset.UnixEpoch, TimeSpan.FromMinutes(20), "n1"), SessionAccess.Exclusive, isNew: true);

    [Test]
    public void SetThenTryGet_Contract_RoundTrips()
    {
        var sut = NewSession();
        var cart = new Cart { Id = Guid.NewGuid(), Lines = [new Line { Sku = "book", Quantity = 2 }] };

        sut.Set("cart", cart);
        var found = sut.TryGet<Cart>("cart", out var read);

        Assert.That(found, Is.True);
        Assert.That(read!.Id, Is.EqualTo(cart.Id));
        Assert.That(read.Lines.Single().Sku, Is.EqualTo("book"));
        Assert.That(read.Lines.Single().Quantity, Is.EqualTo(2));
    }

    [Test]
    public void Set_Guid_EncodedAtCompatibilityLevel300AsItsString()
    {
        var sut = NewSession();
        var id = Guid.NewGuid();

        sut.Set("cart", new Cart { Id = id });

        sut.TryGetValue("cart", out var bytes);
        Assert.That(Encoding.UTF8.GetString(bytes!), Does.Contain(id.ToString()), "Level300 writes a Guid as its hyphenated string");
    }

    [Test]
    public void TryGet_Absent_ReturnsFalse()
    {
        var sut = NewSession();

        var found = sut.TryGet<Cart>("cart", out var read);

        Assert.That(found, Is.False);
        Assert.That(read, Is.Null);
    }

    [Test]
    public void Set_TypeIsNotAContract_ThrowsNamingTheTypeAndTheFix()
    {
        var sut = NewSession();

        var ex = Assert.Throws<InvalidOperationException>(() => sut.Set("x", new NotAContract()));

        Assert.That(ex!.Message, Does.Contain(typeof(NotAContract).FullName).And.Contain("[ProtoContract]"));
        Assert.That(sut.IsChanged, Is.False);
    }

    [Test]
    public void Set_SessionWouldExceedTheMaximum_ThrowsAndChangesNothing()
    {
        var sut = NewSession();
        sut.Set("other", new byte[600]);
        var cart = new Cart { Lines = [new Line { Sku = new string('x', 500) }] };

        var ex = Assert.Throws<SessionTooLargeException>(() => sut.Set("cart", cart, maxSessionBytes: 1000));

        Assert.That(ex!.Limit, Is.EqualTo(1000));
        Assert.That(ex.Size, Is.GreaterThan(1000));
        Assert.That(sut.TryGetValue("cart", out _), Is.False);
    }

    [Test]
    public void Set_ReplacingALargeValue_CountsTheNewValueOnly()
    {
        var sut = NewSession();
        sut.Set("cart", new Cart { Lines = [new Line { Sku = new string('x', 700) }] }, maxSessionBytes: 1000);

        sut.Set("cart", new Cart { Lines = [new Line { Sku = new string('y', 700) }] }, maxSessionBytes: 1000);

        Assert.That(sut.TryGet<Cart>("cart", out var read) && read.Lines[0].Sku[0] == 'y', Is.True);
    }

    [Test]
    public void TryGet_BytesAreNotTheType_ThrowsInvalidData()
    {
        var sut = NewSession();
        sut.Set("cart", [0xFF, 0xFF, 0xFF]);

        Assert.Throws<InvalidDataException>(() => sut.TryGet<Cart>("cart", out _));
    }
}
