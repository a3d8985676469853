using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Multicast.Bench.Transport;

/// <summary>The ceiling: plain UDP multicast sockets on loopback, no reliability; counts what arrives.</summary>
internal sealed class RawMulticast : IDisposable
{
    private readonly Socket _sender;
    private readonly Receiver[] _receivers;
    private readonly SocketAddress _group;

    public RawMulticast(int receivers, int bufferBytes)
    {
        var group = BenchNetwork.RandomGroup();
        var port = BenchNetwork.FreeUdpPort();
        _group = new IPEndPoint(group, port).Serialize();
        _sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _sender.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _sender.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, IPAddress.Loopback.GetAddressBytes());
        _sender.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastLoopback, true);
        _sender.SendBufferSize = bufferBytes;
        _receivers = Enumerable.Range(0, receivers).Select(_ => new Receiver(group, port, bufferBytes)).ToArray();
    }

    public IReadOnlyList<Receiver> Receivers => _receivers;

    public void Send(ReadOnlySpan<byte> message) => _sender.SendTo(message, SocketFlags.None, _group);

    /// <summary>Waits until no receiver got anything for <paramref name="quiet"/>.</summary>
    public void WaitQuiet(TimeSpan quiet)
    {
        long last = -1;
        while (true)
        {
            var now = _receivers.Sum(r => r.Received);
            if (now == last)
                return;
            last = now;
            Thread.Sleep(quiet);
        }
    }

    public void Dispose()
    {
        foreach (var receiver in _receivers)
            receiver.Dispose();
        _sender.Dispose();
    }

    internal sealed class Receiver : IDisposable
    {
        private readonly Socket _socket;
        private readonly Thread _thread;
        private volatile bool _stop;
        private long _received;
        private long _lastTimestamp;

        public Receiver(IPAddress group, int port, int bufferBytes)
        {
            _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            _socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _socket.Bind(new IPEndPoint(group, port));
            _socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(group, IPAddress.Loopback));
            _socket.ReceiveBufferSize = bufferBytes;
            _socket.ReceiveTimeout = 100;
            _thread = new Thread(Run) { IsBackground = true, Name = "raw receive" };
            _thread.Start();
        }

        /// <summary>Called for every datagram on the receive thread (latency runs).</summary>
        public Action<ReadOnlySpan<byte>>? OnMessage { get; set; }

        public long Received => Interlocked.Read(ref _received);

        public long LastTimestamp => Interlocked.Read(ref _lastTimestamp);

        public void Reset()
        {
            Interlocked.Exchange(ref _received, 0);
            Interlocked.Exchange(ref _lastTimestamp, 0);
        }

        private void Run()
        {
            var buffer = new byte[65536];
            while (!_stop)
            {
                int length;
                try
                {
                    length = _socket.Receive(buffer);
                }
                catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock)
                {
                    continue;
                }
                catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
                {
                    return;
                }
                OnMessage?.Invoke(buffer.AsSpan(0, length));
                Interlocked.Exchange(ref _lastTimestamp, Stopwatch.GetTimestamp());
                Interlocked.Increment(ref _received);
            }
        }

        public void Dispose()
        {
            _stop = true;
            _thread.Join();
            _socket.Dispose();
        }
    }
}
