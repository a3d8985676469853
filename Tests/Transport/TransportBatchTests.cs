using Multicast.Transport;

namespace Multicast.Tests.Transport;

/// <summary>The batch sends of <see cref="ITransport"/> for a transport that implements only single-datagram sends.</summary>
[TestFixture]
public sealed class TransportBatchTests
{
    [Test]
    public void SendBatch_InterfaceDefault_IsOneSendPerDatagramInOrder()
    {
        var sut = new CountingTransport();
        ITransport transport = sut;

        transport.SendBatchToGroup(new byte[30], [10, 0, 20]);
        transport.SendBatchTo("peer", new byte[30], [30]);

        Assert.That(sut.Sends, Is.EqualTo(new[] { "group:10", "group:0", "group:20", "peer:30" }));
    }

    [Test]
    public void SendBatch_LengthsBeyondTheBuffer_ThrowsBeforeSendingAnything()
    {
        var sut = new CountingTransport();
        ITransport transport = sut;

        Assert.That(() => transport.SendBatchToGroup(new byte[5], [3, 3]), Throws.ArgumentException.With.Message.Contains("5"));
        Assert.That(() => transport.SendBatchTo("peer", new byte[5], [-1]), Throws.ArgumentException);
        Assert.That(sut.Sends, Is.Empty);
    }

    private sealed class CountingTransport : ITransport
    {
        public List<string> Sends { get; } = [];

        public string LocalAddress => "self";

        public int MaxDatagramSize => 100;

        public ValueTask StartAsync(IDatagramHandler handler, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;

        public void SendToGroup(ReadOnlySpan<byte> datagram) => Sends.Add($"group:{datagram.Length}");

        public void SendTo(string address, ReadOnlySpan<byte> datagram) => Sends.Add($"{address}:{datagram.Length}");

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
