using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Multicast.Bench.Transport;

/// <summary>Loopback addressing and the message stamp shared by the transport measurements.</summary>
internal static class BenchNetwork
{
    /// <summary>Bytes at the start of every benchmark message: sequence number and send timestamp.</summary>
    public const int StampSize = 16;

    public static IPAddress RandomGroup() =>
        IPAddress.Parse($"239.{Random.Shared.Next(1, 255)}.{Random.Shared.Next(0, 256)}.{Random.Shared.Next(1, 255)}");

    public static int FreeUdpPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }

    public static void Stamp(Span<byte> message, long sequence)
    {
        BinaryPrimitives.WriteInt64LittleEndian(message, sequence);
        BinaryPrimitives.WriteInt64LittleEndian(message[8..], Stopwatch.GetTimestamp());
    }

    public static long SequenceOf(ReadOnlySpan<byte> message) => BinaryPrimitives.ReadInt64LittleEndian(message);

    public static long AgeOf(ReadOnlySpan<byte> message) => Stopwatch.GetTimestamp() - BinaryPrimitives.ReadInt64LittleEndian(message[8..]);

    /// <summary>Calls <paramref name="send"/> with 0, 1, 2, ... at <paramref name="rate"/> per second for
    /// <paramref name="duration"/>; sleeps between due messages instead of spinning (2 cores are shared with the receivers).</summary>
    public static long Paced(double rate, TimeSpan duration, Action<long> send, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        long sent = 0;
        var total = (long)(rate * duration.TotalSeconds);
        while (sent < total && !cancellationToken.IsCancellationRequested)
        {
            var due = Math.Min(total, (long)(clock.Elapsed.TotalSeconds * rate) + 1);
            if (sent >= due)
            {
                Thread.Sleep(1);
                continue;
            }
            while (sent < due)
                send(sent++);
        }
        return sent;
    }
}
