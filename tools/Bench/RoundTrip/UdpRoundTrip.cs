using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Multicast.Bench.RoundTrip;

/// <summary>
/// The physical unit of every replicated write: one loopback UDP round trip, measured raw (no channel, no
/// reliability): a client sends a 1 KiB datagram to an echo thread on 127.0.0.1 and waits for it to come back,
/// one at a time. Blocking sockets on two dedicated threads (the floor), and the same with the client awaiting
/// <c>SendToAsync</c>/<c>ReceiveFromAsync</c> (what an async caller pays on top: the thread-pool hand-off).
/// </summary>
internal static class UdpRoundTrip
{
    public const int DatagramBytes = 1024;

    /// <summary>Measures both variants for <paramref name="duration"/> each; adds their results; returns the blocking p50 in microseconds (the unit).</summary>
    public static async Task<double> MeasureAsync(BenchReport report, TimeSpan duration, CancellationToken cancellationToken)
    {
        using var echo = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        echo.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        echo.ReceiveTimeout = 1000;
        var echoThread = new Thread(() => Echo(echo)) { IsBackground = true, Name = "bench udp echo" };
        echoThread.Start();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        client.ReceiveTimeout = 1000;
        var target = echo.LocalEndPoint!;
        try
        {
            var blocking = new Latencies(4_000_000);
            long lost = 0;
            var thread = new Thread(() => lost = PingBlocking(client, target, duration, blocking, cancellationToken)) { IsBackground = true, Name = "bench udp ping" };
            thread.Start();
            await Task.Run(thread.Join, cancellationToken);
            var unit = blocking.PercentileMs(50) * 1000;
            Report(report.Add("udp_round_trip_1kib"), blocking, lost);

            var async = new Latencies(4_000_000);
            lost = await PingAsync(client, target, duration, async, cancellationToken);
            Report(report.Add("udp_round_trip_1kib_async"), async, lost);
            report.Notes.Add($"round trips: a cost in round trips = its µs / the blocking loopback UDP round trip's p50 ({unit:0.0} µs in this run: {DatagramBytes} B datagram to an echo thread and back, no channel).");
            return unit;
        }
        finally
        {
            client.SendTo([], target);
            await Task.Run(echoThread.Join, CancellationToken.None);
        }
    }

    private static void Report(BenchResult result, Latencies latencies, long lost)
    {
        result.Set("samples", latencies.Count).Set("lost", lost)
            .Set("p50_us", latencies.PercentileMs(50) * 1000).Set("p99_us", latencies.PercentileMs(99) * 1000).Set("p99_9_us", latencies.PercentileMs(99.9) * 1000);
    }

    private static void Echo(Socket socket)
    {
        var buffer = new byte[DatagramBytes];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        while (true)
        {
            int read;
            try
            {
                read = socket.ReceiveFrom(buffer, ref from);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut)
            {
                continue;
            }
            if (read == 0)
                return; // the stop signal
            socket.SendTo(buffer.AsSpan(0, read), from);
        }
    }

    private static long PingBlocking(Socket client, EndPoint target, TimeSpan duration, Latencies latencies, CancellationToken cancellationToken)
    {
        var message = new byte[DatagramBytes];
        var reply = new byte[DatagramBytes];
        long lost = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration && !cancellationToken.IsCancellationRequested)
        {
            var started = Stopwatch.GetTimestamp();
            client.SendTo(message, target);
            try
            {
                client.Receive(reply);
                latencies.Add(Stopwatch.GetTimestamp() - started);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut)
            {
                lost++;
            }
        }
        return lost;
    }

    private static async Task<long> PingAsync(Socket client, EndPoint target, TimeSpan duration, Latencies latencies, CancellationToken cancellationToken)
    {
        var message = new byte[DatagramBytes];
        var reply = new byte[DatagramBytes];
        // One deadline for the whole loop (no allocation per round trip): a datagram lost on loopback (none seen)
        // ends the variant at the deadline instead of hanging it.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(duration + TimeSpan.FromSeconds(5));
        var clock = Stopwatch.StartNew();
        try
        {
            while (clock.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                await client.SendToAsync(message, target, deadline.Token);
                await client.ReceiveAsync(reply, SocketFlags.None, deadline.Token);
                latencies.Add(Stopwatch.GetTimestamp() - started);
            }
            return 0;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return 1;
        }
    }
}
