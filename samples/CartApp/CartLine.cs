using ProtoBuf;

namespace CartApp;

/// <summary>One line of the cart.</summary>
[ProtoContract]
public sealed class CartLine
{
    [ProtoMember(1)]
    public string Sku { get; set; } = string.Empty;

    [ProtoMember(2)]
    public int Quantity { get; set; }
}
