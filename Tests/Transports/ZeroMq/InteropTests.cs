using Multicast.Transports.ZeroMq;

namespace Multicast.Tests.Transports.ZeroMq;

[Category("Integration")]
public sealed class InteropTests
{
    [Test]
    public void LibraryVersion_Installed_IsLibzmq43()
    {
        var version = Interop.LibraryVersion();

        Assert.That(version, Is.GreaterThanOrEqualTo(new Version(4, 3, 0)));
    }

    [Test]
    public void EnsureInstalled_MissingLibrary_ThrowsNamingTheDebianPackage()
    {
        var e = Assert.Throws<ZeroMqException>(() => Interop.EnsureInstalled("libzmq-not-installed.so.5"));

        Assert.That(e!.Message, Does.Contain("apt-get install libzmq5"));
        Assert.That(e.InnerException, Is.InstanceOf<DllNotFoundException>());
    }

    [Test]
    public void Bind_UnknownProtocol_ThrowsWithLibzmqsMessageAndErrno()
    {
        using var context = Interop.CreateContext();
        using var sut = Interop.CreateSocket(context, Interop.ZMQ_PUB);

        var e = Assert.Throws<ZeroMqException>(() => Interop.Bind(sut, "nonsense://127.0.0.1:1"));

        Assert.That(e!.ErrorNumber, Is.EqualTo(93)); // EPROTONOSUPPORT
        Assert.That(e.ErrorMessage, Is.EqualTo(Interop.StrError(93)));
        Assert.That(e.Message, Does.Contain("nonsense://").And.Contain(e.ErrorMessage));
    }

    [Test]
    public void Bind_PortInUse_ThrowsAddressInUse()
    {
        using var context = Interop.CreateContext();
        using var first = Interop.CreateSocket(context, Interop.ZMQ_PULL);
        Interop.SetOption(first, Interop.ZMQ_LINGER, 0);
        Interop.Bind(first, "tcp://127.0.0.1:*");
        var endpoint = Interop.GetStringOption(first, Interop.ZMQ_LAST_ENDPOINT);
        using var sut = Interop.CreateSocket(context, Interop.ZMQ_PULL);
        Interop.SetOption(sut, Interop.ZMQ_LINGER, 0);

        var e = Assert.Throws<ZeroMqException>(() => Interop.Bind(sut, endpoint));

        Assert.That(e!.ErrorNumber, Is.EqualTo(98)); // EADDRINUSE
        Assert.That(e.ErrorMessage, Does.Contain("in use"));
    }

    [Test]
    public void Connect_MalformedEndpoint_ThrowsInvalidArgument()
    {
        using var context = Interop.CreateContext();
        using var sut = Interop.CreateSocket(context, Interop.ZMQ_SUB);

        var e = Assert.Throws<ZeroMqException>(() => Interop.Connect(sut, "tcp://"));

        Assert.That(e!.ErrorNumber, Is.EqualTo(22)); // EINVAL
    }

    [Test]
    public void GetStringOption_WildcardPort_ReadsBackTheBoundPort()
    {
        using var context = Interop.CreateContext();
        using var sut = Interop.CreateSocket(context, Interop.ZMQ_PUB);
        Interop.SetOption(sut, Interop.ZMQ_LINGER, 0);

        Interop.Bind(sut, "tcp://127.0.0.1:*");
        var endpoint = Interop.GetStringOption(sut, Interop.ZMQ_LAST_ENDPOINT);

        Assert.That(endpoint, Does.Match(@"^tcp://127\.0\.0\.1:[1-9][0-9]*$"));
    }

    [Test]
    public void SetOption_Int32AndInt64_ReadBack()
    {
        using var context = Interop.CreateContext();
        using var sut = Interop.CreateSocket(context, Interop.ZMQ_SUB);

        Interop.SetOption(sut, Interop.ZMQ_RCVHWM, 7);
        Interop.SetOption(sut, Interop.ZMQ_MAXMSGSIZE, 4096L);

        Assert.That(Interop.GetInt32Option(sut, Interop.ZMQ_RCVHWM), Is.EqualTo(7));
        Assert.That(Interop.GetInt64Option(sut, Interop.ZMQ_MAXMSGSIZE), Is.EqualTo(4096L));
        Assert.That(Interop.GetInt32Option(sut, Interop.ZMQ_TYPE), Is.EqualTo(Interop.ZMQ_SUB));
    }

    [Test]
    public void SendReceive_Multipart_FramesArriveInOrderWithMoreFlags()
    {
        using var context = Interop.CreateContext();
        using var pull = Interop.CreateSocket(context, Interop.ZMQ_PULL);
        using var push = Interop.CreateSocket(context, Interop.ZMQ_PUSH);
        Interop.SetOption(pull, Interop.ZMQ_LINGER, 0);
        Interop.SetOption(push, Interop.ZMQ_LINGER, 0);
        var endpoint = $"inproc://multipart-{Guid.NewGuid():N}";
        Interop.Bind(pull, endpoint);
        Interop.Connect(push, endpoint);

        Assert.That(Interop.Send(push, "one"u8, Interop.ZMQ_SNDMORE), Is.True);
        Assert.That(Interop.Send(push, "two"u8, 0), Is.True);

        var message = default(ZmqMessage);
        Interop.InitMessage(ref message);
        try
        {
            Assert.That(Interop.Receive(ref message, pull, 0), Is.True);
            Assert.That(Interop.MessageData(ref message).SequenceEqual("one"u8), Is.True);
            Assert.That(Interop.MessageMore(ref message), Is.True);
            Assert.That(Interop.Receive(ref message, pull, 0), Is.True);
            Assert.That(Interop.MessageData(ref message).SequenceEqual("two"u8), Is.True);
            Assert.That(Interop.MessageMore(ref message), Is.False);
            Assert.That(Interop.Receive(ref message, pull, Interop.ZMQ_DONTWAIT), Is.False, "nothing more is waiting");
        }
        finally
        {
            Interop.CloseMessage(ref message);
        }
    }

    [Test]
    public void Poll_MessageWaiting_ReportsReadable()
    {
        using var context = Interop.CreateContext();
        using var pull = Interop.CreateSocket(context, Interop.ZMQ_PULL);
        using var push = Interop.CreateSocket(context, Interop.ZMQ_PUSH);
        Interop.SetOption(pull, Interop.ZMQ_LINGER, 0);
        Interop.SetOption(push, Interop.ZMQ_LINGER, 0);
        var endpoint = $"inproc://poll-{Guid.NewGuid():N}";
        Interop.Bind(pull, endpoint);
        Interop.Connect(push, endpoint);
        Span<ZmqPollItem> items = [ZmqPollItem.ForSocket(pull, Interop.ZMQ_POLLIN)];
        Assert.That(Interop.Poll(items, 0), Is.EqualTo(0), "nothing is waiting yet");

        Interop.Send(push, "x"u8, 0);
        var ready = Interop.Poll(items, 10_000);

        Assert.That(ready, Is.EqualTo(1));
        Assert.That(items[0].IsReadable, Is.True);
    }

    [Test]
    public void Poll_EventFdSignalled_ReportsReadableUntilDrained()
    {
        using var sut = Interop.CreateEventFd();
        Span<ZmqPollItem> items = [ZmqPollItem.ForFileDescriptor((int)sut.DangerousGetHandle(), Interop.ZMQ_POLLIN)];

        Interop.SignalEventFd(sut);
        var signalled = Interop.Poll(items, 10_000);
        Interop.DrainEventFd(sut);
        var drained = Interop.Poll(items, 0);

        Assert.That(signalled, Is.EqualTo(1));
        Assert.That(drained, Is.EqualTo(0));
    }

    [Test]
    public void ContextDispose_SocketStillOpen_TermsOnlyAfterTheSocketCloses()
    {
        var context = Interop.CreateContext();
        var socket = Interop.CreateSocket(context, Interop.ZMQ_PUB);

        context.Dispose();
        var stillUsable = Interop.GetInt32Option(socket, Interop.ZMQ_TYPE);
        socket.Dispose();

        Assert.That(stillUsable, Is.EqualTo(Interop.ZMQ_PUB));
        Assert.That(context.IsClosed, Is.True);
    }

    [Test]
    public void Has_KnownAndUnknownCapability_AnswersAccordingly()
    {
        Assert.That(Interop.Has("tcp") || Interop.Has("ipc"), Is.True);
        Assert.That(Interop.Has("no-such-capability"), Is.False);
    }
}
