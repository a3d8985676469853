using System.Diagnostics;
using Multicast.Transports.ZeroMq;
using static Multicast.Tests.Transports.ZeroMq.ZeroMqTestHelpers;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>
/// An independent ZeroMQ implementation (Debian's python3-zmq, run with /usr/bin/python3 — not pyenv's python3 on
/// PATH) talks to a node: ZMTP on the wire, one frame per datagram.
/// </summary>
[Category("Integration")]
public sealed class ZeroMqPythonInteropTests
{
    private const string Python = "/usr/bin/python3";

    // The independent peer. Modes: sub <endpoint> | pull | pub <hex> | push <endpoint> <hex>.
    // Receivers print "<frame count> <first frame hex>"; binders print their bound endpoint first.
    private const string PeerScript = """
        import sys, time, zmq
        mode = sys.argv[1]
        ctx = zmq.Context()
        def report(s):
            frames = s.recv_multipart()
            print(len(frames), frames[0].hex(), flush=True)
            s.close(0)
        if mode == "sub":
            s = ctx.socket(zmq.SUB); s.setsockopt(zmq.SUBSCRIBE, b""); s.setsockopt(zmq.RCVTIMEO, 20000)
            s.connect(sys.argv[2]); report(s)
        elif mode == "pull":
            s = ctx.socket(zmq.PULL); s.setsockopt(zmq.RCVTIMEO, 20000); s.bind("tcp://127.0.0.1:*")
            print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True); report(s)
        elif mode == "pub":
            s = ctx.socket(zmq.PUB); s.bind("tcp://127.0.0.1:*")
            print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
            payload = bytes.fromhex(sys.argv[2]); deadline = time.time() + 20
            while time.time() < deadline:
                s.send(payload); time.sleep(0.01)
        elif mode == "push":
            s = ctx.socket(zmq.PUSH); s.setsockopt(zmq.LINGER, 20000); s.connect(sys.argv[2])
            s.send(bytes.fromhex(sys.argv[3])); s.close()
        ctx.term()
        """;

    private readonly List<Process> _processes = [];
    private ZeroMqTransport _sut = null!;
    private RecordingHandler _handler = null!;

    [OneTimeSetUp]
    public void RequirePythonZmq()
    {
        using var check = Start("-c", "import zmq");
        check.WaitForExit(30_000);
        if (check.ExitCode != 0)
            Assert.Fail($"{Python} -c 'import zmq' failed ({check.StandardError.ReadToEnd().Trim()}): install Debian's python3-zmq with `apt-get install python3-zmq` (bash tools/test.sh does it as root).");
    }

    [SetUp]
    public async Task StartNode()
    {
        _handler = new RecordingHandler();
        _sut = new ZeroMqTransport(LoopbackOptions());
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
        await _sut.DisposeAsync();
    }

    [Test]
    public async Task SendToGroup_PythonSubscriber_ReceivesOneFrameWithTheDatagram()
    {
        var datagram = "node to python"u8.ToArray();
        var python = Peer("sub", _sut.PublishAddress);

        var exited = await Eventually(() => python.HasExited, () => _sut.SendToGroup(datagram));

        Assert.That(exited, Is.True, "the python subscriber received a frame");
        Assert.That(Output(python), Is.EqualTo($"1 {Convert.ToHexStringLower(datagram)}"));
    }

    [Test]
    public async Task AddPeer_PythonPublisher_NodeReceivesTheFrame()
    {
        var datagram = "python to node"u8.ToArray();
        var python = Peer("pub", Convert.ToHexStringLower(datagram));
        var endpoint = await python.StandardOutput.ReadLineAsync();

        _sut.AddPeer(endpoint!);
        var received = await Eventually(() => _handler.Has(datagram));

        Assert.That(received, Is.True);
    }

    [Test]
    public async Task SendTo_PythonPull_ReceivesOneFrameWithTheDatagram()
    {
        var datagram = "unicast to python"u8.ToArray();
        var python = Peer("pull");
        var endpoint = await python.StandardOutput.ReadLineAsync();

        _sut.SendTo(endpoint!, datagram);
        var exited = await Eventually(() => python.HasExited);

        Assert.That(exited, Is.True, "the python PULL received a frame");
        Assert.That(Output(python), Is.EqualTo($"1 {Convert.ToHexStringLower(datagram)}"));
    }

    [Test]
    public async Task LocalAddress_PythonPush_NodeReceivesTheFrame()
    {
        var datagram = "unicast from python"u8.ToArray();

        Peer("push", _sut.LocalAddress, Convert.ToHexStringLower(datagram));
        var received = await Eventually(() => _handler.Has(datagram));

        Assert.That(received, Is.True);
    }

    private Process Peer(params string[] args)
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
