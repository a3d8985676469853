using System.Globalization;

namespace Multicast.NetProbe;

/// <summary>The command line of NetProbe.</summary>
internal sealed class ProbeArguments
{
    public string Role { get; private set; } = "receiver";

    public string NodeId { get; private set; } = Environment.MachineName;

    public string Interface { get; private set; } = "127.0.0.1";

    public string Group { get; private set; } = "239.255.77.77";

    public int Port { get; private set; } = 45566;

    public int Members { get; private set; } = 3;

    public long Messages { get; private set; } = 10_000;

    public int LargeEvery { get; private set; } = 50;

    public int LargeSize { get; private set; } = 20 * 1024;

    public int DatagramSize { get; private set; } = 1400;

    public int TimeoutSeconds { get; private set; } = 60;

    /// <summary>The channel's SuspectTimeout, in milliseconds.</summary>
    public int SuspectMilliseconds { get; private set; } = 10_000;

    /// <summary>Every message this many bytes (at least <see cref="ProbeMessages.HeaderSize"/>); 0: mixed sizes, every
    /// <see cref="LargeEvery"/>th one <see cref="LargeSize"/>.</summary>
    public int Size { get; private set; }

    /// <summary>Messages per second the sender offers; 0: as fast as the send window admits.</summary>
    public double Rate { get; private set; }

    /// <summary>The size of message <paramref name="index"/>.</summary>
    public int SizeOf(long index) => Size > 0 ? Size : ProbeMessages.SizeOf(index, LargeEvery, LargeSize);

    public static ProbeArguments Parse(string[] args)
    {
        var parsed = new ProbeArguments();
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var value = args[i + 1];
            switch (args[i])
            {
                case "--role": parsed.Role = value; break;
                case "--node-id": parsed.NodeId = value; break;
                case "--interface": parsed.Interface = value; break;
                case "--group": parsed.Group = value; break;
                case "--port": parsed.Port = Int(value); break;
                case "--members": parsed.Members = Int(value); break;
                case "--messages": parsed.Messages = Int(value); break;
                case "--large-every": parsed.LargeEvery = Int(value); break;
                case "--large-size": parsed.LargeSize = Int(value); break;
                case "--datagram-size": parsed.DatagramSize = Int(value); break;
                case "--timeout-seconds": parsed.TimeoutSeconds = Int(value); break;
                case "--size": parsed.Size = Int(value); break;
                case "--rate": parsed.Rate = double.Parse(value, CultureInfo.InvariantCulture); break;
                case "--suspect-ms": parsed.SuspectMilliseconds = Int(value); break;
                default: throw new ArgumentException($"unknown option {args[i]}");
            }
        }
        if (parsed.Role is not ("sender" or "receiver" or "member"))
            throw new ArgumentException("--role must be sender, receiver or member");
        if (parsed.Size is > 0 and < ProbeMessages.HeaderSize)
            throw new ArgumentException($"--size must be at least {ProbeMessages.HeaderSize}");
        return parsed;

        static int Int(string text) => int.Parse(text, CultureInfo.InvariantCulture);
    }
}
