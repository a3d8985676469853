using Multicast.Transports.ZeroMq;
using NetMQ;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>The options reach every socket: linger 0, the high-water marks, the reconnect back-off, the largest
/// message, CURVE roles. (The sockets are created, never bound or connected.)</summary>
public sealed class SocketFactoryTests
{
    private static ZeroMqTransportOptions Options() => new()
    {
        SendHighWaterMark = 1_234,
        ReceiveHighWaterMark = 2_345,
        ReconnectInterval = TimeSpan.FromMilliseconds(37),
        ReconnectIntervalMax = TimeSpan.FromSeconds(3),
        MaxDatagramSize = 4_000,
    };

    [Test]
    public void Publisher_Options_LingerZeroAndTheSendHighWaterMark()
    {
        var sut = new SocketFactory(Options(), curve: null);

        using var socket = sut.Publisher();

        Assert.That(socket.Options.Linger, Is.EqualTo(TimeSpan.Zero));
        Assert.That(socket.Options.SendHighWatermark, Is.EqualTo(1_234));
        Assert.That(socket.Options.SendLowWatermark, Is.EqualTo(SocketFactory.LowWaterMark(1_234)));
        Assert.That(socket.Options.CurveServer, Is.False);
    }

    [Test]
    public void Subscriber_Options_LingerZeroReceiveHighWaterMarkReconnectAndLargestMessage()
    {
        var sut = new SocketFactory(Options(), curve: null);

        using var socket = sut.Subscriber();

        Assert.That(socket.Options.Linger, Is.EqualTo(TimeSpan.Zero));
        Assert.That(socket.Options.ReceiveHighWatermark, Is.EqualTo(2_345));
        Assert.That(socket.Options.ReceiveLowWatermark, Is.EqualTo(SocketFactory.LowWaterMark(2_345)));
        Assert.That(socket.Options.ReconnectInterval, Is.EqualTo(TimeSpan.FromMilliseconds(37)));
        Assert.That(socket.Options.ReconnectIntervalMax, Is.EqualTo(TimeSpan.FromSeconds(3)));
        Assert.That(socket.Options.MaxMsgSize, Is.EqualTo(64 * 1024 + SocketFactory.FramingAllowance));
    }

    [Test]
    public void Router_Options_LingerZeroReceiveHighWaterMarkAndLargestMessage()
    {
        var sut = new SocketFactory(Options(), curve: null);

        using var socket = sut.Router();

        Assert.That(socket.Options.Linger, Is.EqualTo(TimeSpan.Zero));
        Assert.That(socket.Options.ReceiveHighWatermark, Is.EqualTo(2_345));
        Assert.That(socket.Options.MaxMsgSize, Is.EqualTo(64 * 1024 + SocketFactory.FramingAllowance));
    }

    [Test]
    public void Dealer_Options_LingerZeroSendHighWaterMarkAndReconnect()
    {
        var sut = new SocketFactory(Options(), curve: null);

        using var socket = sut.Dealer();

        Assert.That(socket.Options.Linger, Is.EqualTo(TimeSpan.Zero));
        Assert.That(socket.Options.SendHighWatermark, Is.EqualTo(1_234));
        Assert.That(socket.Options.ReconnectInterval, Is.EqualTo(TimeSpan.FromMilliseconds(37)));
        Assert.That(socket.Options.ReconnectIntervalMax, Is.EqualTo(TimeSpan.FromSeconds(3)));
    }

    [Test]
    public void Sockets_WithCurve_BoundOnesServeConnectingOnesAreClientsOfTheClusterKey()
    {
        var options = Options();
        var server = new NetMQCertificate();
        options.CurveServerSecretKey = server.SecretKeyZ85;
        var sut = new SocketFactory(options, CurveKeys.From(options));

        using var publisher = sut.Publisher();
        using var router = sut.Router();
        using var subscriber = sut.Subscriber();
        using var dealer = sut.Dealer();

        Assert.That(sut.Curve, Is.True);
        Assert.That(publisher.Options.CurveServer, Is.True);
        Assert.That(router.Options.CurveServer, Is.True);
        Assert.That(subscriber.Options.CurveServer, Is.False);
        Assert.That(subscriber.Options.CurveServerKey, Is.EqualTo(server.PublicKey));
        Assert.That(dealer.Options.CurveServerKey, Is.EqualTo(server.PublicKey));
    }

    [TestCase(10_000, 1_024)]
    [TestCase(1_000, 500)]
    [TestCase(1, 1)]
    public void LowWaterMark_HighWaterMark_ReportsEvery1024OrHalfTheMark(int highWaterMark, int expected) =>
        Assert.That(SocketFactory.LowWaterMark(highWaterMark), Is.EqualTo(expected));
}
