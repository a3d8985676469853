namespace Multicast.Transports.ZeroMq;

/// <summary>
/// Options of <see cref="ZeroMqTransport"/>, bound from the configuration section <c>Cluster:ZeroMq</c>
/// (<see cref="SectionName"/>). Endpoints are libzmq endpoints: <c>tcp://host:port</c> or <c>ipc://path</c>;
/// a port of <c>*</c> or <c>0</c> picks a free port, read back after binding.
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

    /// <summary>The default of <see cref="Rate"/>, in kbit/s (libzmq's own default of 100 kbit/s is far too slow).</summary>
    public const int DefaultRate = 100_000;

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

    /// <summary>Where this node's PUB socket binds; peers' SUB sockets connect to it (key <c>Cluster:ZeroMq:PublishEndpoint</c>).</summary>
    /// <value>The default value is <see cref="DefaultPublishEndpoint"/>.</value>
    public string PublishEndpoint { get; set; } = DefaultPublishEndpoint;

    /// <summary>Where this node's PULL socket binds for unicast; the bound endpoint is
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

    /// <summary>ZMQ_SNDHWM of the PUB and PUSH sockets, in messages: past it PUB drops (and the channel repairs)
    /// (key <c>Cluster:ZeroMq:SendHighWaterMark</c>).</summary>
    /// <value>The default value is <see cref="DefaultHighWaterMark"/>.</value>
    public int SendHighWaterMark { get; set; } = DefaultHighWaterMark;

    /// <summary>ZMQ_RCVHWM of the SUB and PULL sockets, in messages (key <c>Cluster:ZeroMq:ReceiveHighWaterMark</c>).</summary>
    /// <value>The default value is <see cref="DefaultHighWaterMark"/>.</value>
    public int ReceiveHighWaterMark { get; set; } = DefaultHighWaterMark;

    /// <summary>libzmq's reliable multicast as the group path instead of PUB/SUB over TCP: a <c>norm://</c>,
    /// <c>epgm://</c> or <c>pgm://</c> endpoint that the PUB and the SUB both connect to, e.g.
    /// <c>norm://127.0.0.1;239.192.1.1:5556</c> or <c>epgm://127.0.0.1;239.192.1.1:5555</c>
    /// (key <c>Cluster:ZeroMq:GroupEndpoint</c>). <see cref="PublishEndpoint"/> and <see cref="Peers"/> are then unused.</summary>
    /// <value>The default value is <see langword="null"/>: PUB/SUB over <see cref="PublishEndpoint"/> and <see cref="Peers"/>.</value>
    public string? GroupEndpoint { get; set; }

    /// <summary>ZMQ_RATE for <see cref="GroupEndpoint"/>, in kbit/s: the multicast send rate (key <c>Cluster:ZeroMq:Rate</c>).</summary>
    /// <value>The default value is <see cref="DefaultRate"/>.</value>
    public int Rate { get; set; } = DefaultRate;

    /// <summary>The largest datagram accepted, in bytes; larger incoming messages are dropped by libzmq
    /// (ZMQ_MAXMSGSIZE), which disconnects their sender (key <c>Cluster:ZeroMq:MaxDatagramSize</c>).</summary>
    /// <value>The default value is <see cref="DefaultMaxDatagramSize"/>.</value>
    public int MaxDatagramSize { get; set; } = DefaultMaxDatagramSize;

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
        RequireEndpoint(Prefix + nameof(PublishEndpoint), PublishEndpoint, PointToPoint);
        RequireEndpoint(Prefix + nameof(UnicastEndpoint), UnicastEndpoint, PointToPoint);
        for (var i = 0; i < Peers.Count; i++)
            RequireEndpoint($"{Prefix}{nameof(Peers)}:{i}", Peers[i], PointToPoint);
        if (GroupEndpoint is not null)
        {
            RequireEndpoint(Prefix + nameof(GroupEndpoint), GroupEndpoint, Multicast);
            if (Peers.Count > 0)
                throw new OptionsValidationError(Prefix + nameof(Peers), "must be empty when Cluster:ZeroMq:GroupEndpoint is set (the group path is multicast then)");
        }
        if (AdvertisedHost is { } host && (host.Length == 0 || host.Contains('/', StringComparison.Ordinal) || host.Contains('*', StringComparison.Ordinal)))
            throw new OptionsValidationError(Prefix + nameof(AdvertisedHost), $"'{host}' is not a host name or address");
        if (SendHighWaterMark <= 0)
            throw new OptionsValidationError(Prefix + nameof(SendHighWaterMark), $"{SendHighWaterMark} must be positive (0 would mean unbounded memory)");
        if (ReceiveHighWaterMark <= 0)
            throw new OptionsValidationError(Prefix + nameof(ReceiveHighWaterMark), $"{ReceiveHighWaterMark} must be positive (0 would mean unbounded memory)");
        if (Rate <= 0)
            throw new OptionsValidationError(Prefix + nameof(Rate), $"{Rate} must be a positive rate in kbit/s");
        if (MaxDatagramSize is < 64 or > 16 * 1024 * 1024)
            throw new OptionsValidationError(Prefix + nameof(MaxDatagramSize), $"{MaxDatagramSize} must be between 64 and 16777216 bytes");
        if (BeaconEnabled)
        {
            if (!System.Net.IPAddress.TryParse(BeaconGroup, out var group) || !IsMulticast(group))
                throw new OptionsValidationError(Prefix + nameof(BeaconGroup), $"'{BeaconGroup}' is not an IPv4 multicast address (224.0.0.0/4)");
            if (BeaconPort is <= 0 or > 65535)
                throw new OptionsValidationError(Prefix + nameof(BeaconPort), $"{BeaconPort} is not a UDP port");
            if (!System.Net.IPAddress.TryParse(BeaconInterface, out var nic) || nic.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
                throw new OptionsValidationError(Prefix + nameof(BeaconInterface), $"'{BeaconInterface}' is not a local IPv4 address");
            if (BeaconInterval <= TimeSpan.Zero)
                throw new OptionsValidationError(Prefix + nameof(BeaconInterval), $"{BeaconInterval} must be positive");
        }
    }

    private static readonly string[] PointToPoint = ["tcp://", "ipc://"];
    private static readonly string[] Multicast = ["norm://", "epgm://", "pgm://"];

    private static void RequireEndpoint(string key, string? value, string[] schemes)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new OptionsValidationError(key, $"is empty; give an endpoint such as {schemes[0]}...");
        foreach (var scheme in schemes)
        {
            if (value.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) && value.Length > scheme.Length)
                return;
        }
        throw new OptionsValidationError(key, $"'{value}' must start with {string.Join(" or ", schemes)}");
    }

    private static bool IsMulticast(System.Net.IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (address.GetAddressBytes()[0] & 0xF0) == 0xE0;

    /// <summary>Whether every endpoint this node binds or connects to is on this machine (tcp on a loopback address or
    /// localhost, ipc, inproc) and the beacon, if enabled, runs on a loopback interface (see <c>ITransport.IsLoopback</c>).</summary>
    internal bool StaysOnHost() =>
        IsLoopbackEndpoint(UnicastEndpoint)
        && (GroupEndpoint is { } group ? IsLoopbackEndpoint(group) : IsLoopbackEndpoint(PublishEndpoint) && Peers.All(IsLoopbackEndpoint))
        && (!BeaconEnabled || System.Net.IPAddress.TryParse(BeaconInterface, out var beacon) && System.Net.IPAddress.IsLoopback(beacon));

    private static bool IsLoopbackEndpoint(string endpoint)
    {
        var split = endpoint.IndexOf("://", StringComparison.Ordinal);
        if (split < 0)
            return false;
        var scheme = endpoint[..split];
        var rest = endpoint[(split + 3)..];
        if (scheme is "ipc" or "inproc")
            return true;
        // tcp://host:port; epgm/pgm/norm: interface;group:port
        var host = scheme == "tcp" ? rest[..Math.Max(0, rest.LastIndexOf(':'))] : rest.Split(';')[0];
        host = host.Trim('[', ']');
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || System.Net.IPAddress.TryParse(host, out var address) && System.Net.IPAddress.IsLoopback(address);
    }
}
