using Multicast.Messaging.Internal;

namespace Multicast.Messaging;

/// <summary>
/// Settings of the <see cref="ReliableGroupChannel"/>, bound from the <c>Cluster</c> configuration section.
/// </summary>
public sealed class GroupChannelOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Cluster";

    /// <summary>The default <see cref="ClusterId"/>.</summary>
    public const string DefaultClusterId = "multicast";

    /// <summary>The default <see cref="DatagramSize"/>: fits a 1500-byte Ethernet MTU with IP and UDP headers.</summary>
    public const int DefaultDatagramSize = 1400;

    /// <summary>The smallest accepted <see cref="DatagramSize"/>.</summary>
    public const int MinDatagramSize = 256;

    // The longest transport address a heartbeat is sized for (UDP "ip:port" takes 21, a ZeroMQ tcp endpoint with a host name more).
    private const int MaxAddressBytes = 100;

    /// <summary>The default <see cref="MaxMessageBytes"/>: 4 MiB of session state plus headroom.</summary>
    public const int DefaultMaxMessageBytes = 8 * 1024 * 1024;

    /// <summary>The default <see cref="SendWindowBytes"/>: 4 MiB, what the receivers' socket buffers absorb (the usual
    /// net.core.rmem_max). A larger window lets a fast sender overrun them, and the kernel's drops come back as retransmissions.</summary>
    public const long DefaultSendWindowBytes = 4L * 1024 * 1024;

    /// <summary>The default <see cref="HeartbeatInterval"/>.</summary>
    public static readonly TimeSpan DefaultHeartbeatInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>The default <see cref="SuspectTimeout"/>.</summary>
    public static readonly TimeSpan DefaultSuspectTimeout = TimeSpan.FromSeconds(3);

    /// <summary>The default <see cref="ReorderGuard"/>: 100 µs, as Aeron's receivers wait on unicast.</summary>
    public static readonly TimeSpan DefaultReorderGuard = TimeSpan.FromMicroseconds(100);

    /// <summary>The default <see cref="NakRetryInterval"/>.</summary>
    public static readonly TimeSpan DefaultNakRetryInterval = TimeSpan.FromMilliseconds(5);

    /// <summary>The default <see cref="AckInterval"/>.</summary>
    public static readonly TimeSpan DefaultAckInterval = TimeSpan.FromMilliseconds(2);

    /// <summary>The default <see cref="TailDelay"/>.</summary>
    public static readonly TimeSpan DefaultTailDelay = TimeSpan.FromMilliseconds(3);

    /// <summary>The default <see cref="SendTimeout"/>.</summary>
    public static readonly TimeSpan DefaultSendTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The default <see cref="JoinTimeout"/>.</summary>
    public static readonly TimeSpan DefaultJoinTimeout = TimeSpan.FromSeconds(1);

    /// <summary>The default <see cref="JoinRetryInterval"/>.</summary>
    public static readonly TimeSpan DefaultJoinRetryInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>The cluster's name. Nodes of different clusters can share a group and port: each ignores the
    /// other's datagrams (a 32-bit hash of this id is in every header).</summary>
    /// <value>The default value is <see cref="DefaultClusterId"/>.</value>
    public string ClusterId { get; set; } = DefaultClusterId;

    /// <summary>This node's id: unique in the cluster, stable across restarts.</summary>
    /// <value>The default value is the machine name.</value>
    public string NodeId { get; set; } = Environment.MachineName;

    /// <summary>This node's public (HTTP) address, announced to the others for redirects; may be empty.</summary>
    /// <value>The default value is empty.</value>
    public string PublicAddress { get; set; } = string.Empty;

    /// <summary>The shared cluster key: base64 (at least 16 bytes once decoded) or text. With a key every
    /// datagram is authenticated. It is required unless the transport stays on this machine (its interface is
    /// loopback, <see cref="Transport.ITransport.IsLoopback"/>) or <see cref="AllowInsecure"/> is set; without one the
    /// channel warns at start.</summary>
    /// <value>The default value is <see langword="null"/> (no authentication).</value>
    public string? ClusterKey { get; set; }

    /// <summary>Runs without <see cref="ClusterKey"/> on a group other machines can reach. Anyone who can send to the
    /// group can then read its traffic and forge members' datagrams; membership only resists blind injection (views
    /// are believed only from a coordinator this node knows, view ids cannot be pushed out of reach).</summary>
    /// <value>The default value is <see langword="false"/>: the channel refuses to start without a key unless its
    /// transport is loopback.</value>
    public bool AllowInsecure { get; set; }

    /// <summary>Whether payloads are encrypted (AES-GCM) as well as authenticated. Needs <see cref="ClusterKey"/>.</summary>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool Encrypt { get; set; }

    /// <summary>The largest datagram sent, headers included; larger messages are fragmented. Never more than
    /// the path MTU allows, so IP fragmentation never happens; raise it for loopback or jumbo frames.</summary>
    /// <value>The default value is <see cref="DefaultDatagramSize"/>.</value>
    public int DatagramSize { get; set; } = DefaultDatagramSize;

    /// <summary>The largest message <see cref="IGroupChannel.BroadcastAsync"/> or <see cref="IGroupChannel.SendAsync"/> accepts.</summary>
    /// <value>The default value is <see cref="DefaultMaxMessageBytes"/>.</value>
    public int MaxMessageBytes { get; set; } = DefaultMaxMessageBytes;

    /// <summary>How many bytes of sent but not yet acknowledged packets this node keeps per stream: its broadcast stream and
    /// each unicast stream have a window of this size. When a stream's window is full, its sends wait (flow control); the
    /// other streams go on. A message larger than the window is sent alone once its stream's window is empty.</summary>
    /// <value>The default value is <see cref="DefaultSendWindowBytes"/>.</value>
    public long SendWindowBytes { get; set; } = DefaultSendWindowBytes;

    /// <summary>How long a send waits for room in the send window before it faults with
    /// <see cref="SendWindowFullException"/>.</summary>
    /// <value>The default value is <see cref="DefaultSendTimeout"/>.</value>
    public TimeSpan SendTimeout { get; set; } = DefaultSendTimeout;

    /// <summary>How often a member announces that it is alive (and its stream tails).</summary>
    /// <value>The default value is <see cref="DefaultHeartbeatInterval"/>.</value>
    public TimeSpan HeartbeatInterval { get; set; } = DefaultHeartbeatInterval;

    /// <summary>A member not heard from for this long is suspected and removed from the view.</summary>
    /// <value>The default value is <see cref="DefaultSuspectTimeout"/>.</value>
    public TimeSpan SuspectTimeout { get; set; } = DefaultSuspectTimeout;

    /// <summary>A member that holds this node's broadcast window this long — messages wait for room, and it acknowledged
    /// nothing new meanwhile — is reported and removed from the view (it rejoins once it catches up), so one slow member
    /// does not stall every sender. Unicast streams have windows of their own: a slow addressee holds only its own.</summary>
    /// <value>The default value is <see langword="null"/>: <see cref="SuspectTimeout"/> (a member that stalls a sender that
    /// long is as good as gone for it).</value>
    public TimeSpan? SlowMemberTimeout { get; set; }

    /// <summary>How long a gap in a stream may persist while datagrams keep arriving (it may be reordering) before the
    /// receiver NAKs it. When the receive queue runs empty a gap is NAKed at once, unless the sender's packets were
    /// seen to arrive out of order: then the guard applies there too.</summary>
    /// <value>The default value is <see cref="DefaultReorderGuard"/>.</value>
    public TimeSpan ReorderGuard { get; set; } = DefaultReorderGuard;

    /// <summary>How long a receiver waits for a repair before it NAKs the same gap again, until it has measured the NAK →
    /// repair round trip to that sender; from then on it waits the measured round trip plus four times its variation
    /// (at least 200 µs, at most ten times this interval, doubled after each repeated request until the next
    /// measurement), and doubling with each further request for the same
    /// packets (up to 8×), counted from the last repair that arrived. Also the cap of the tail announcements' back-off.</summary>
    /// <value>The default value is <see cref="DefaultNakRetryInterval"/>.</value>
    public TimeSpan NakRetryInterval { get; set; } = DefaultNakRetryInterval;

    /// <summary>Under load, a receiver acknowledges each stream at most this often (at once when it was idle).</summary>
    /// <value>The default value is <see cref="DefaultAckInterval"/>.</value>
    public TimeSpan AckInterval { get; set; } = DefaultAckInterval;

    /// <summary>How soon after its last send an idle sender announces its highest sequence number (so a lost
    /// last packet is repaired quickly); repeated, backing off, until everything is acknowledged.</summary>
    /// <value>The default value is <see cref="DefaultTailDelay"/>.</value>
    public TimeSpan TailDelay { get; set; } = DefaultTailDelay;

    /// <summary>How long a starting node looks for an existing group before it forms a view of its own.</summary>
    /// <value>The default value is <see cref="DefaultJoinTimeout"/>.</value>
    public TimeSpan JoinTimeout { get; set; } = DefaultJoinTimeout;

    /// <summary>How often a joining node repeats its join request, and the coordinator a view to the members that
    /// have not confirmed it.</summary>
    /// <value>The default value is <see cref="DefaultJoinRetryInterval"/>.</value>
    public TimeSpan JoinRetryInterval { get; set; } = DefaultJoinRetryInterval;

    /// <summary>Checks every setting; throws <see cref="OptionsValidationError"/> naming the key to fix.</summary>
    public void Validate()
    {
        Require(!string.IsNullOrWhiteSpace(ClusterId), nameof(ClusterId), "must not be empty");
        Require(ClusterId.Length <= 200, nameof(ClusterId), "must be at most 200 characters");
        Require(!string.IsNullOrWhiteSpace(NodeId), nameof(NodeId), "must not be empty");
        Require(NodeId.Length <= 100, nameof(NodeId), "must be at most 100 characters");
        Require(PublicAddress is not null && PublicAddress.Length <= 200, nameof(PublicAddress), "must be at most 200 characters");
        var key = DatagramProtector.ParseKey(ClusterKey);
        Require(ClusterKey is null || key is { Length: >= 16 }, nameof(ClusterKey),
            "must be at least 16 bytes (base64) or 16 characters; generate one with 'openssl rand -base64 32'");
        Require(!Encrypt || key is not null, nameof(Encrypt), "needs Cluster:ClusterKey");
        Require(DatagramSize is >= MinDatagramSize and <= 65507, nameof(DatagramSize), $"must be between {MinDatagramSize} and 65507");
        // A heartbeat carries the node id, the transport address (up to MaxAddressBytes) and 25 fixed bytes in one datagram.
        var nodeIdRoom = DatagramSize - PacketHeader.Size - DatagramProtector.TagSize - 25 - 2 - MaxAddressBytes - 2;
        Require(PayloadWriter.SizeOf(NodeId) - 2 <= nodeIdRoom, nameof(NodeId),
            $"must fit a heartbeat: at most {nodeIdRoom} bytes of UTF-8 with Cluster:DatagramSize {DatagramSize}");
        Require(MaxMessageBytes > 0, nameof(MaxMessageBytes), "must be positive");
        Require(SendWindowBytes >= DatagramSize, nameof(SendWindowBytes), "must be at least Cluster:DatagramSize");
        Positive(SendTimeout, nameof(SendTimeout));
        Positive(HeartbeatInterval, nameof(HeartbeatInterval));
        Positive(SuspectTimeout, nameof(SuspectTimeout));
        Require(SuspectTimeout > HeartbeatInterval, nameof(SuspectTimeout), "must be longer than Cluster:HeartbeatInterval");
        Require(ReorderGuard >= TimeSpan.Zero, nameof(ReorderGuard), "must not be negative");
        Positive(NakRetryInterval, nameof(NakRetryInterval));
        Positive(AckInterval, nameof(AckInterval));
        Positive(TailDelay, nameof(TailDelay));
        Positive(JoinTimeout, nameof(JoinTimeout));
        Positive(JoinRetryInterval, nameof(JoinRetryInterval));
        Require(SlowMemberTimeout is null || SlowMemberTimeout > TimeSpan.Zero, nameof(SlowMemberTimeout), "must be positive");
    }

    private static void Positive(TimeSpan value, string name) => Require(value > TimeSpan.Zero, name, "must be positive");

    private static void Require(bool condition, string name, string problem)
    {
        if (!condition)
            throw new OptionsValidationError($"{SectionName}:{name}", problem);
    }
}
