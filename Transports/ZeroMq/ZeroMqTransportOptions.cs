using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Multicast.Transports.ZeroMq;

/// <summary>
/// Options of <see cref="ZeroMqTransport"/>, bound from the configuration section <c>Cluster:ZeroMq</c>
/// (<see cref="SectionName"/>). Endpoints are ZeroMQ TCP endpoints, <c>tcp://host:port</c>; a port of <c>*</c> or
/// <c>0</c> picks a free port, read back after binding.
/// </summary>
public sealed class ZeroMqTransportOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Cluster:ZeroMq";

    /// <summary>The default of <see cref="PublishEndpoint"/>: a free port on loopback.</summary>
    public const string DefaultPublishEndpoint = "tcp://127.0.0.1:*";

    /// <summary>The default of <see cref="UnicastEndpoint"/>: a free port on loopback.</summary>
    public const string DefaultUnicastEndpoint = "tcp://127.0.0.1:*";

    /// <summary>The default of <see cref="SendHighWaterMark"/> and <see cref="ReceiveHighWaterMark"/>, in messages.</summary>
    public const int DefaultHighWaterMark = 10_000;

    /// <summary>The default of <see cref="MaxDatagramSize"/>, in bytes.</summary>
    public const int DefaultMaxDatagramSize = 65_536;

    /// <summary>The default of <see cref="BeaconGroup"/>.</summary>
    public const string DefaultBeaconGroup = "239.255.77.77";

    /// <summary>The default of <see cref="BeaconPort"/>.</summary>
    public const int DefaultBeaconPort = 5670;

    /// <summary>The default of <see cref="BeaconInterface"/>: loopback.</summary>
    public const string DefaultBeaconInterface = "127.0.0.1";

    /// <summary>The default of <see cref="BeaconInterval"/>.</summary>
    public static readonly TimeSpan DefaultBeaconInterval = TimeSpan.FromSeconds(1);

    /// <summary>The default of <see cref="ReconnectInterval"/> (ZeroMQ's own default).</summary>
    public static readonly TimeSpan DefaultReconnectInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>The default of <see cref="ReconnectIntervalMax"/>.</summary>
    public static readonly TimeSpan DefaultReconnectIntervalMax = TimeSpan.FromSeconds(5);

    /// <summary>Where this node's PUB socket binds; peers' SUB sockets connect to it (key <c>Cluster:ZeroMq:PublishEndpoint</c>).</summary>
    /// <value>The default value is <see cref="DefaultPublishEndpoint"/>.</value>
    public string PublishEndpoint { get; set; } = DefaultPublishEndpoint;

    /// <summary>Where this node's ROUTER socket binds for unicast; the bound endpoint is
    /// <see cref="ZeroMqTransport.LocalAddress"/>, which members announce (key <c>Cluster:ZeroMq:UnicastEndpoint</c>).</summary>
    /// <value>The default value is <see cref="DefaultUnicastEndpoint"/>.</value>
    public string UnicastEndpoint { get; set; } = DefaultUnicastEndpoint;

    /// <summary>The host put in the announced endpoints when a socket binds to every interface (<c>tcp://*:5555</c>,
    /// <c>tcp://0.0.0.0:5555</c>): the address peers reach this node at (key <c>Cluster:ZeroMq:AdvertisedHost</c>).</summary>
    /// <value>The default value is <see langword="null"/>: the bound host is announced as it is.</value>
    public string? AdvertisedHost { get; set; }

    /// <summary>The PUB endpoints of the peers this node's SUB connects to (key <c>Cluster:ZeroMq:Peers</c>). The same
    /// list may be given to every node: an entry equal to this node's own <see cref="PublishEndpoint"/> is skipped.
    /// Unicast endpoints are not listed: they are learned from the members' announced addresses.</summary>
    /// <value>The default value is an empty list (with <see cref="BeaconEnabled"/>, peers are discovered).</value>
    public IList<string> Peers { get; } = [];

    /// <summary>The send high-water mark of the PUB and DEALER sockets, in messages: past it PUB drops (and the
    /// channel repairs) and a DEALER refuses, counted as dropped (key <c>Cluster:ZeroMq:SendHighWaterMark</c>).</summary>
    /// <value>The default value is <see cref="DefaultHighWaterMark"/>.</value>
    public int SendHighWaterMark { get; set; } = DefaultHighWaterMark;

    /// <summary>The receive high-water mark of the SUB and ROUTER sockets, in messages (key <c>Cluster:ZeroMq:ReceiveHighWaterMark</c>).</summary>
    /// <value>The default value is <see cref="DefaultHighWaterMark"/>.</value>
    public int ReceiveHighWaterMark { get; set; } = DefaultHighWaterMark;

    /// <summary>The largest datagram accepted, in bytes; a larger single-frame datagram received is dropped and counted,
    /// and a peer that sends a frame larger than the largest batch frame (64 KiB, or this when larger) is disconnected by
    /// NetMQ (its maximum message size); nothing of either is delivered (key <c>Cluster:ZeroMq:MaxDatagramSize</c>).</summary>
    /// <value>The default value is <see cref="DefaultMaxDatagramSize"/>.</value>
    public int MaxDatagramSize { get; set; } = DefaultMaxDatagramSize;

    /// <summary>How long a connecting socket (SUB, DEALER) waits before it reconnects to a peer that went away
    /// (key <c>Cluster:ZeroMq:ReconnectInterval</c>).</summary>
    /// <value>The default value is <see cref="DefaultReconnectInterval"/>.</value>
    public TimeSpan ReconnectInterval { get; set; } = DefaultReconnectInterval;

    /// <summary>The longest wait between reconnection attempts: each failed attempt doubles the wait up to this
    /// (key <c>Cluster:ZeroMq:ReconnectIntervalMax</c>).</summary>
    /// <value>The default value is <see cref="DefaultReconnectIntervalMax"/>.</value>
    public TimeSpan ReconnectIntervalMax { get; set; } = DefaultReconnectIntervalMax;

    /// <summary>Turns on CURVE (ZeroMQ's own authentication and encryption, in NetMQ's implementation): the secret key
    /// of the cluster's server key pair, 40 characters of Z85 as <c>zmq.curve_keypair()</c> or
    /// <c>new NetMQCertificate().SecretKeyZ85</c> make them (key <c>Cluster:ZeroMq:CurveServerSecretKey</c>). Every
    /// node binds its PUB and ROUTER as a CURVE server with it; every connection is a CURVE client of that key. A peer
    /// that does not hold it (another key, or no CURVE) completes no handshake: its connection is closed and counted,
    /// nothing of it is delivered.</summary>
    /// <value>The default value is <see langword="null"/>: no CURVE (the channel's <c>Cluster:ClusterKey</c> still
    /// authenticates every datagram).</value>
    public string? CurveServerSecretKey { get; set; }

    /// <summary>The public key of the server key pair, Z85 (key <c>Cluster:ZeroMq:CurveServerPublicKey</c>). It is
    /// derived from <see cref="CurveServerSecretKey"/>; when given too, it must match (a check against a mistyped pair).</summary>
    /// <value>The default value is <see langword="null"/>: derived.</value>
    public string? CurveServerPublicKey { get; set; }

    /// <summary>This node's CURVE client secret key, Z85 (key <c>Cluster:ZeroMq:CurveClientSecretKey</c>). NetMQ has no
    /// ZAP handler, so servers do not check client keys: any client key works, and a node without one makes a fresh
    /// key pair at start.</summary>
    /// <value>The default value is <see langword="null"/>: a fresh key pair per start.</value>
    public string? CurveClientSecretKey { get; set; }

    /// <summary>Announces this node's PUB endpoint on a UDP multicast beacon and connects to the endpoints other
    /// nodes announce, for networks that carry multicast (key <c>Cluster:ZeroMq:BeaconEnabled</c>).</summary>
    /// <value>The default value is <see langword="false"/>: only <see cref="Peers"/> are connected.</value>
    public bool BeaconEnabled { get; set; }

    /// <summary>The beacon's multicast group (key <c>Cluster:ZeroMq:BeaconGroup</c>).</summary>
    /// <value>The default value is <see cref="DefaultBeaconGroup"/>.</value>
    public string BeaconGroup { get; set; } = DefaultBeaconGroup;

    /// <summary>The beacon's UDP port (key <c>Cluster:ZeroMq:BeaconPort</c>).</summary>
    /// <value>The default value is <see cref="DefaultBeaconPort"/>.</value>
    public int BeaconPort { get; set; } = DefaultBeaconPort;

    /// <summary>The local address of the interface the beacon joins and sends on (key <c>Cluster:ZeroMq:BeaconInterface</c>).</summary>
    /// <value>The default value is <see cref="DefaultBeaconInterface"/>.</value>
    public string BeaconInterface { get; set; } = DefaultBeaconInterface;

    /// <summary>How often the beacon announces this node (key <c>Cluster:ZeroMq:BeaconInterval</c>).</summary>
    /// <value>The default value is <see cref="DefaultBeaconInterval"/>.</value>
    public TimeSpan BeaconInterval { get; set; } = DefaultBeaconInterval;

    /// <summary>Checks every value; throws <see cref="OptionsValidationError"/> naming the first key to fix.</summary>
    public void Validate()
    {
        const string Prefix = SectionName + ":";
        RequireEndpoint(Prefix + nameof(PublishEndpoint), PublishEndpoint, bind: true);
        RequireEndpoint(Prefix + nameof(UnicastEndpoint), UnicastEndpoint, bind: true);
        for (var i = 0; i < Peers.Count; i++)
            RequireEndpoint($"{Prefix}{nameof(Peers)}:{i}", Peers[i], bind: false);
        if (AdvertisedHost is { } host && (host.Length == 0 || host.Contains('/', StringComparison.Ordinal) || host.Contains('*', StringComparison.Ordinal)))
            throw new OptionsValidationError(Prefix + nameof(AdvertisedHost), $"'{host}' is not a host name or address");
        if (SendHighWaterMark <= 0)
            throw new OptionsValidationError(Prefix + nameof(SendHighWaterMark), $"{SendHighWaterMark} must be positive (0 would mean unbounded memory)");
        if (ReceiveHighWaterMark <= 0)
            throw new OptionsValidationError(Prefix + nameof(ReceiveHighWaterMark), $"{ReceiveHighWaterMark} must be positive (0 would mean unbounded memory)");
        if (MaxDatagramSize is < 64 or > 16 * 1024 * 1024)
            throw new OptionsValidationError(Prefix + nameof(MaxDatagramSize), $"{MaxDatagramSize} must be between 64 and 16777216 bytes");
        if (ReconnectInterval <= TimeSpan.Zero || ReconnectInterval > TimeSpan.FromMinutes(10))
            throw new OptionsValidationError(Prefix + nameof(ReconnectInterval), $"{ReconnectInterval} must be positive and at most 10 minutes");
        if (ReconnectIntervalMax < ReconnectInterval || ReconnectIntervalMax > TimeSpan.FromHours(1))
            throw new OptionsValidationError(Prefix + nameof(ReconnectIntervalMax), $"{ReconnectIntervalMax} must be at least ReconnectInterval ({ReconnectInterval}) and at most an hour");
        CurveKeys.Validate(this);
        if (BeaconEnabled)
        {
            if (!IPAddress.TryParse(BeaconGroup, out var group) || !IsMulticast(group))
                throw new OptionsValidationError(Prefix + nameof(BeaconGroup), $"'{BeaconGroup}' is not an IPv4 multicast address (224.0.0.0/4)");
            if (BeaconPort is <= 0 or > 65535)
                throw new OptionsValidationError(Prefix + nameof(BeaconPort), $"{BeaconPort} is not a UDP port");
            if (!IPAddress.TryParse(BeaconInterface, out var nic) || nic.AddressFamily != AddressFamily.InterNetwork)
                throw new OptionsValidationError(Prefix + nameof(BeaconInterface), $"'{BeaconInterface}' is not a local IPv4 address");
            if (BeaconInterval <= TimeSpan.Zero)
                throw new OptionsValidationError(Prefix + nameof(BeaconInterval), $"{BeaconInterval} must be positive");
        }
    }

    /// <summary>Whether <paramref name="endpoint"/> is <c>tcp://host:port</c>; <paramref name="bind"/> also allows the
    /// port <c>*</c> and the host <c>*</c>.</summary>
    internal static bool IsTcpEndpoint(string? endpoint, bool bind)
    {
        const string Tcp = "tcp://";
        if (endpoint is null || !endpoint.StartsWith(Tcp, StringComparison.OrdinalIgnoreCase))
            return false;
        var rest = endpoint[Tcp.Length..];
        var colon = rest.LastIndexOf(':');
        if (colon <= 0 || colon == rest.Length - 1)
            return false;
        var host = rest[..colon];
        var port = rest[(colon + 1)..];
        if (host.Contains('/', StringComparison.Ordinal) || host.Contains(' ', StringComparison.Ordinal) || (host == "*" && !bind))
            return false;
        if (port == "*")
            return bind;
        return int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number <= 65535 && (bind || number > 0);
    }

    private static void RequireEndpoint(string key, string? value, bool bind)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new OptionsValidationError(key, "is empty; give an endpoint such as tcp://10.0.0.1:5555");
        if (!IsTcpEndpoint(value, bind))
            throw new OptionsValidationError(key, bind
                ? $"'{value}' is not a tcp://host:port endpoint (port * or 0 picks a free one; host * binds every interface)"
                : $"'{value}' is not a tcp://host:port endpoint of a peer");
    }

    private static bool IsMulticast(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetwork && (address.GetAddressBytes()[0] & 0xF0) == 0xE0;

    /// <summary>Whether every endpoint this node binds or connects to is on this machine (tcp on a loopback address or
    /// localhost) and the beacon, if enabled, runs on a loopback interface (see <c>ITransport.IsLoopback</c>).</summary>
    internal bool StaysOnHost() =>
        IsLoopbackEndpoint(UnicastEndpoint)
        && IsLoopbackEndpoint(PublishEndpoint) && Peers.All(IsLoopbackEndpoint)
        && (!BeaconEnabled || IPAddress.TryParse(BeaconInterface, out var beacon) && IPAddress.IsLoopback(beacon));

    private static bool IsLoopbackEndpoint(string endpoint)
    {
        const string Tcp = "tcp://";
        if (!endpoint.StartsWith(Tcp, StringComparison.OrdinalIgnoreCase))
            return false;
        var rest = endpoint[Tcp.Length..];
        var host = rest[..Math.Max(0, rest.LastIndexOf(':'))].Trim('[', ']');
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address);
    }
}
