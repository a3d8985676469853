using System.Diagnostics;
using Multicast.Transports.ZeroMq;
using NetMQ;
using static Multicast.Tests.Transports.ZeroMq.ZeroMqTestHelpers;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>
/// The reference implementation, libzmq (Debian's python3-zmq, run with /usr/bin/python3 — not pyenv's python3 on
/// PATH), talks to a NetMQ node both ways, without and with CURVE: ZMTP 3 on the wire, one frame per datagram (after
/// the routing id a ROUTER adds).
/// </summary>
[Category("Integration")]
public sealed class ZeroMqPythonInteropTests
{
    private const string Python = "/usr/bin/python3";

    // The libzmq peer. Modes: sub <endpoint> | router | pub <hex> | dealer <endpoint> <hex>; then, with CURVE, the
    // server's secret key (servers) or public key (clients), Z85. Receivers print "<frame count> <last frame hex>"
    // (a ROUTER's routing id not counted); binders print their bound endpoint first.
    private const string PeerScript = """
        import sys, time, zmq
        mode, args = sys.argv[1], sys.argv[2:]
        ctx = zmq.Context()
        def serve(s, key):
            if key:
                s.curve_secretkey = key.encode(); s.curve_publickey = zmq.curve_public(key.encode()); s.curve_server = True
        def client(s, key):
            if key:
                s.curve_serverkey = key.encode(); s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
        def report(s, skip):
            frames = s.recv_multipart()[skip:]
            print(len(frames), frames[-1].hex(), flush=True)
            s.close(0)
        if mode == "sub":
            s = ctx.socket(zmq.SUB); client(s, args[1] if len(args) > 1 else None)
            s.setsockopt(zmq.SUBSCRIBE, b""); s.setsockopt(zmq.RCVTIMEO, 20000); s.connect(args[0]); report(s, 0)
        elif mode == "router":
            s = ctx.socket(zmq.ROUTER); serve(s, args[0] if args else None); s.setsockopt(zmq.RCVTIMEO, 20000)
            s.bind("tcp://127.0.0.1:*"); print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True); report(s, 1)
        elif mode == "pub":
            s = ctx.socket(zmq.PUB); serve(s, args[1] if len(args) > 1 else None); s.bind("tcp://127.0.0.1:*")
            print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
            payload = bytes.fromhex(args[0]); deadline = time.time() + 20
            while time.time() < deadline:
                s.send(payload); time.sleep(0.01)
        elif mode == "dealer":
            s = ctx.socket(zmq.DEALER); client(s, args[2] if len(args) > 2 else None); s.connect(args[0])
            payload = bytes.fromhex(args[1]); deadline = time.time() + 20
            while time.time() < deadline:
                s.send(payload); time.sleep(0.01)
        ctx.destroy(0)
        """;

    private readonly List<Process> _processes = [];
    private readonly NetMQCertificate _server = new();
    private ZeroMqTransport _sut = null!;
    private RecordingHandler _handler = null!;
    private bool _curve;

    /// <summary>The key a libzmq server binds with and the node connects with: the cluster's, or (when asked) another.</summary>
    private string[] ServerSecret(NetMQCertificate? other = null) => _curve ? [(other ?? _server).SecretKeyZ85!] : [];

    private string[] ServerPublic(NetMQCertificate? other = null) => _curve ? [(other ?? _server).PublicKeyZ85] : [];

    [OneTimeSetUp]
    public void RequirePythonZmq()
    {
        if (!File.Exists(Python))
            Assert.Ignore($"needs {Python} with Debian's python3-zmq (`apt-get install python3-zmq`; bash tools/test.sh installs it as root)");
        using var check = Start("-c", "import zmq; assert zmq.has('curve')");
        check.WaitForExit(30_000);
        if (check.ExitCode != 0)
            Assert.Ignore($"{Python} -c 'import zmq' failed ({check.StandardError.ReadToEnd().Trim()}): the libzmq interop tests need Debian's python3-zmq (`apt-get install python3-zmq`; bash tools/test.sh installs it as root)");
    }

    /// <summary>Starts the node under test, a CURVE server of the test's key pair when <paramref name="curve"/>.</summary>
    private async Task StartNode(bool curve)
    {
        _curve = curve;
        _handler = new RecordingHandler();
        var options = LoopbackOptions();
        options.CurveServerSecretKey = curve ? _server.SecretKeyZ85 : null;
        _sut = new ZeroMqTransport(options);
        await _sut.StartAsync(_handler);
    }

    [TearDown]
    public async Task StopAll()
    {
        foreach (var p in _processes)
        {
            if (!p.HasExited)
                p.Kill();
            p.Dispose();
        }
        _processes.Clear();
        if (_sut is not null)
            await _sut.DisposeAsync();
        _sut = null!;
    }

    [Test]
    public async Task SendToGroup_LibzmqSubscriber_ReceivesOneFrameWithTheDatagram([Values(false, true)] bool curve)
    {
        await StartNode(curve);
        var datagram = "node to libzmq"u8.ToArray();
        var python = Peer(["sub", _sut.PublishAddress, .. ServerPublic()]);

        var exited = await Eventually(() => python.HasExited, () => _sut.SendToGroup(datagram));

        Assert.That(exited, Is.True, "the libzmq subscriber received a frame");
        Assert.That(Output(python), Is.EqualTo($"1 {Convert.ToHexStringLower(datagram)}"));
    }

    [Test]
    public async Task AddPeer_LibzmqPublisher_NodeReceivesTheFrame([Values(false, true)] bool curve)
    {
        await StartNode(curve);
        var datagram = "libzmq to node"u8.ToArray();
        var python = Peer(["pub", Convert.ToHexStringLower(datagram), .. ServerSecret()]);
        var endpoint = await python.StandardOutput.ReadLineAsync();

        _sut.AddPeer(endpoint!);
        var received = await Eventually(() => _handler.Has(datagram));

        Assert.That(received, Is.True);
    }

    [Test]
    public async Task SendTo_LibzmqRouter_ReceivesTheDatagramAfterTheRoutingId([Values(false, true)] bool curve)
    {
        await StartNode(curve);
        var datagram = "unicast to libzmq"u8.ToArray();
        var python = Peer(["router", .. ServerSecret()]);
        var endpoint = await python.StandardOutput.ReadLineAsync();

        var exited = await Eventually(() => python.HasExited, () => _sut.SendTo(endpoint!, datagram));

        Assert.That(exited, Is.True, "the libzmq ROUTER received a message");
        Assert.That(Output(python), Is.EqualTo($"1 {Convert.ToHexStringLower(datagram)}"), "one frame after the routing id: the datagram");
    }

    [Test]
    public async Task LocalAddress_LibzmqDealer_NodeReceivesTheFrame([Values(false, true)] bool curve)
    {
        await StartNode(curve);
        var datagram = "unicast from libzmq"u8.ToArray();

        Peer(["dealer", _sut.LocalAddress, Convert.ToHexStringLower(datagram), .. ServerPublic()]);
        var received = await Eventually(() => _handler.Has(datagram));

        Assert.That(received, Is.True);
        Assert.That(_handler.Datagrams, Has.All.EqualTo(datagram), "exactly the frame, without the routing id");
    }

    [Test]
    public async Task LibzmqPeersWithAnotherServerKey_AreRefusedCountedAndNeverDelivered()
    {
        await StartNode(curve: true);
        var stranger = new NetMQCertificate();
        var fromDealer = "dealer with another key"u8.ToArray();
        var fromPublisher = "publisher with another key"u8.ToArray();
        var fromFriend = "dealer with the key"u8.ToArray();

        // A client that encrypts to another server key, and a server with another key pair that the node connects to.
        Peer(["dealer", _sut.LocalAddress, Convert.ToHexStringLower(fromDealer), .. ServerPublic(stranger)]);
        var publisher = Peer(["pub", Convert.ToHexStringLower(fromPublisher), .. ServerSecret(stranger)]);
        _sut.AddPeer((await publisher.StandardOutput.ReadLineAsync())!);
        var refused = await Eventually(() => _sut.Counters.Refused >= 2);
        // A peer with the right key gets through meanwhile: the node was listening all along.
        Peer(["dealer", _sut.LocalAddress, Convert.ToHexStringLower(fromFriend), .. ServerPublic()]);
        var friendArrived = await Eventually(() => _handler.Has(fromFriend));

        Assert.That(refused, Is.True, $"refused: {_sut.Counters.Refused}");
        Assert.That(friendArrived, Is.True);
        Assert.That(_handler.Has(fromDealer), Is.False);
        Assert.That(_handler.Has(fromPublisher), Is.False);
    }

    private Process Peer(string[] args)
    {
        var process = Start(["-c", PeerScript, .. args]);
        _processes.Add(process);
        return process;
    }

    private static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        return Process.Start(info) ?? throw new InvalidOperationException($"could not start {Python}");
    }

    private static string Output(Process process)
    {
        var output = process.StandardOutput.ReadToEnd().Trim().Split('\n')[^1];
        Assert.That(process.ExitCode, Is.EqualTo(0), process.StandardError.ReadToEnd());
        return output;
    }
}
