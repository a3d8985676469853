using System.Net;
using System.Net.Sockets;
using Multicast.Transports.ZeroMq;
using NetMQ;
using static Multicast.Tests.Transports.ZeroMq.ZeroMqTestHelpers;

namespace Multicast.Tests.Transports.ZeroMq;

/// <summary>CURVE between NetMQ nodes: encrypted on the wire, and a peer without the cluster's server key (another key,
/// or no CURVE at all) is refused and counted, and nothing of it is delivered. Interop with libzmq's CURVE is in
/// <see cref="ZeroMqPythonInteropTests"/>.</summary>
[Category("Integration")]
public sealed class ZeroMqCurveTests
{
    private readonly List<ZeroMqTransport> _transports = [];
    private readonly string _clusterKey = new NetMQCertificate().SecretKeyZ85!;

    [TearDown]
    public async Task DisposeTransports()
    {
        foreach (var t in _transports)
            await t.DisposeAsync();
        _transports.Clear();
    }

    private async Task<(ZeroMqTransport Transport, RecordingHandler Handler)> Start(string? curveKey)
    {
        var options = LoopbackOptions();
        options.CurveServerSecretKey = curveKey;
        var transport = new ZeroMqTransport(options);
        _transports.Add(transport);
        var handler = new RecordingHandler();
        await transport.StartAsync(handler);
        return (transport, handler);
    }

    [TestCase(true, TestName = "Peer_WithAnotherServerKey_IsRefusedCountedAndNeverDelivered")]
    [TestCase(false, TestName = "Peer_WithoutCurve_IsRefusedCountedAndNeverDelivered")]
    public async Task Peer_WithoutTheClusterKey_IsRefusedCountedAndNeverDelivered(bool otherKey)
    {
        var (sut, handler) = await Start(_clusterKey);
        var (friend, _) = await Start(_clusterKey);
        var (stranger, strangerHandler) = await Start(otherKey ? new NetMQCertificate().SecretKeyZ85 : null);
        foreach (var (a, b) in new[] { (sut, friend), (friend, sut), (sut, stranger), (stranger, sut) })
            a.AddPeer(b.PublishAddress);
        var fromStranger = "from the stranger"u8.ToArray();
        var fromFriend = "from the friend"u8.ToArray();
        var toStranger = "to the stranger"u8.ToArray();

        // The stranger tries both paths in, and is sent to; the friend gets through meanwhile.
        var refused = await Eventually(() => sut.Counters.Refused >= 3, () =>
        {
            stranger.SendToGroup(fromStranger);
            stranger.SendTo(sut.LocalAddress, fromStranger);
            sut.SendTo(stranger.LocalAddress, toStranger);
            sut.SendToGroup(toStranger);
        });
        var friendArrived = await Eventually(() => handler.Count(fromFriend) >= 2, () =>
        {
            friend.SendToGroup(fromFriend);
            friend.SendTo(sut.LocalAddress, fromFriend);
        });

        Assert.That(refused, Is.True, $"refused: {sut.Counters.Refused}");
        Assert.That(friendArrived, Is.True, "group and unicast from a peer with the key");
        Assert.That(handler.Has(fromStranger), Is.False, "nothing from the stranger");
        Assert.That(strangerHandler.Has(toStranger), Is.False, "nothing to the stranger");
    }

    [Test]
    public async Task SendTo_WithCurve_PlainTextNeverOnTheWire([Values(true, false)] bool curve)
    {
        var key = curve ? _clusterKey : null;
        var (sut, _) = await Start(key);
        var (target, handler) = await Start(key);
        await using var tap = new TcpTap(target.LocalAddress);
        var datagram = "a secret session attribute, 0123456789"u8.ToArray();

        var delivered = await Eventually(() => handler.Has(datagram), () => sut.SendTo(tap.Address, datagram));

        Assert.That(delivered, Is.True, "through the tap");
        Assert.That(tap.Seen(datagram), Is.EqualTo(!curve), curve ? "CURVE encrypts the datagram" : "without CURVE the datagram is plain on the wire");
    }

    /// <summary>A TCP forwarder on loopback that keeps a copy of what the client sends.</summary>
    private sealed class TcpTap : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly IPEndPoint _target;
        private readonly CancellationTokenSource _stop = new();
        private readonly MemoryStream _captured = new();
        private readonly Task _accepting;

        public TcpTap(string target)
        {
            var hostPort = target["tcp://".Length..];
            _target = IPEndPoint.Parse(hostPort);
            _listener.Start();
            Address = $"tcp://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";
            _accepting = AcceptAsync();
        }

        public string Address { get; }

        public bool Seen(byte[] bytes)
        {
            lock (_captured)
                return _captured.ToArray().AsSpan().IndexOf(bytes) >= 0;
        }

        private async Task AcceptAsync()
        {
            var pumps = new List<Task>();
            try
            {
                while (!_stop.IsCancellationRequested)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    var server = new TcpClient();
                    await server.ConnectAsync(_target, _stop.Token);
                    pumps.Add(PumpAsync(client, server, capture: true));
                    pumps.Add(PumpAsync(server, client, capture: false));
                }
            }
            catch (OperationCanceledException)
            {
            }
            await Task.WhenAll(pumps);
        }

        private async Task PumpAsync(TcpClient from, TcpClient to, bool capture)
        {
            var buffer = new byte[16 * 1024];
            try
            {
                while (true)
                {
                    var read = await from.GetStream().ReadAsync(buffer, _stop.Token);
                    if (read == 0)
                        break;
                    if (capture)
                    {
                        lock (_captured)
                            _captured.Write(buffer, 0, read);
                    }
                    await to.GetStream().WriteAsync(buffer.AsMemory(0, read), _stop.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or SocketException)
            {
            }
            finally
            {
                from.Dispose();
                to.Dispose();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _stop.Dispose();
        }
    }
}
