using System.Collections.Concurrent;
using System.Diagnostics;
using Multicast.Transport;
using Multicast.Transports.ZeroMq;

namespace Multicast.Tests.Transports.ZeroMq;

internal static class ZeroMqTestHelpers
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    /// <summary>Polls <paramref name="condition"/> until it holds or the deadline passes; runs <paramref name="between"/>
    /// (e.g. a resend) between polls. Returns whether it held.</summary>
    public static async Task<bool> Eventually(Func<bool> condition, Action? between = null, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > (timeout ?? Timeout))
                return false;
            between?.Invoke();
            await Task.Delay(10);
        }
        return true;
    }

    /// <summary>Opens a TCP connection to <paramref name="endpoint"/> (<c>tcp://host:port</c>), writes
    /// <paramref name="bytes"/> and closes it.</summary>
    public static async Task SendRawTcpAsync(string endpoint, byte[] bytes)
    {
        var hostPort = endpoint["tcp://".Length..];
        var colon = hostPort.LastIndexOf(':');
        using var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync(hostPort[..colon], int.Parse(hostPort[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        var stream = client.GetStream();
        await stream.WriteAsync(bytes);
        await stream.FlushAsync();
        client.Client.Shutdown(System.Net.Sockets.SocketShutdown.Both);
    }

    public static ZeroMqTransportOptions LoopbackOptions() => new()
    {
        PublishEndpoint = "tcp://127.0.0.1:*",
        UnicastEndpoint = "tcp://127.0.0.1:*",
    };

    /// <summary>Starts <paramref name="count"/> transports on loopback with free ports, each subscribed to all others.</summary>
    public static async Task<(ZeroMqTransport Transport, RecordingHandler Handler)[]> StartMesh(int count, Action<ZeroMqTransportOptions>? configure = null)
    {
        var nodes = new (ZeroMqTransport, RecordingHandler)[count];
        for (var i = 0; i < count; i++)
        {
            var options = LoopbackOptions();
            configure?.Invoke(options);
            var transport = new ZeroMqTransport(options);
            var handler = new RecordingHandler();
            await transport.StartAsync(handler);
            nodes[i] = (transport, handler);
        }
        foreach (var (transport, _) in nodes)
        {
            foreach (var (other, _) in nodes)
            {
                if (!ReferenceEquals(transport, other))
                    transport.AddPeer(other.PublishAddress);
            }
        }
        return nodes;
    }
}

/// <summary>Records every datagram with the name of the thread that delivered it.</summary>
internal sealed class RecordingHandler : IDatagramHandler
{
    public ConcurrentQueue<byte[]> Datagrams { get; } = new();

    public ConcurrentQueue<string?> Threads { get; } = new();

    public void OnDatagram(ReadOnlySpan<byte> datagram)
    {
        Datagrams.Enqueue(datagram.ToArray());
        Threads.Enqueue(Thread.CurrentThread.Name);
    }

    private int _idleReports;

    /// <summary>How often the transport said its receive queue went empty.</summary>
    public int IdleReports => Volatile.Read(ref _idleReports);

    public void OnReceiveIdle() => Interlocked.Increment(ref _idleReports);

    public bool Has(byte[] datagram) => Datagrams.Any(d => d.AsSpan().SequenceEqual(datagram));

    public int Count(byte[] datagram) => Datagrams.Count(d => d.AsSpan().SequenceEqual(datagram));
}
