using ProtoBuf;

namespace CartApp;

/// <summary>A shopping cart kept in the session: a protobuf-net contract, so it is a typed session value.</summary>
[ProtoContract]
public sealed class Cart
{
    [ProtoMember(1)]
    public List<CartLine> Lines { get; set; } = [];
}
