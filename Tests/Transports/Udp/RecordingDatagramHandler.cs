using System.Collections.Concurrent;
using Multicast.Transport;

namespace Multicast.Tests.Transports.Udp;

/// <summary>Keeps every datagram it receives and the name of the thread that delivered them.</summary>
internal sealed class RecordingDatagramHandler : IDatagramHandler
{
    private readonly ConcurrentQueue<byte[]> _datagrams = new();

    public IReadOnlyCollection<byte[]> Datagrams => _datagrams;

    public int Count => _datagrams.Count;

    public string? ThreadName { get; private set; }

    public Func<byte[], bool>? ThrowWhen { get; init; }

    public void OnDatagram(ReadOnlySpan<byte> datagram)
    {
        ThreadName = Thread.CurrentThread.Name;
        var copy = datagram.ToArray();
        _datagrams.Enqueue(copy);
        if (ThrowWhen?.Invoke(copy) == true)
            throw new InvalidOperationException("handler failure injected by the test");
    }

    private int _idleReports;

    /// <summary>How often the transport said its receive queue went empty.</summary>
    public int IdleReports => Volatile.Read(ref _idleReports);

    public void OnReceiveIdle() => Interlocked.Increment(ref _idleReports);

    public bool Contains(byte[] payload) => _datagrams.Any(d => d.AsSpan().SequenceEqual(payload));
}
