using System.Reflection;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Multicast.AspNetCore;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Transports.Udp;
using Multicast.Transports.ZeroMq;

namespace Multicast.Host;

/// <summary>
/// The node's configuration (sections <c>Cluster</c>, <c>Session</c>, <c>Host</c>), bound and checked before
/// anything starts: an unknown key, an unconvertible value or an invalid one throws a message naming the key.
/// </summary>
internal sealed class HostSettings
{
    private static readonly string[] HostOwnClusterKeys = ["Transport", "Store", "Udp", "ZeroMq"];
    private static readonly string[] HostOwnSessionKeys = ["DefaultAccess", "RetryAfter", "Cookie"];

    public TransportKind Transport { get; set; }

    public StoreKind Store { get; set; }

    /// <summary>Maps the endpoints the end-to-end tests drive (<c>/test/*</c>).</summary>
    public bool EnableTestEndpoints { get; set; }

    /// <summary>Serves the cluster page (<c>/cluster/ui</c>, <c>/cluster/nodes</c>, <c>/cluster/sessions/{id}</c>) to
    /// every client, not only to loopback ones.</summary>
    public bool EnableClusterPage { get; set; }

    public ClusteredSessionOptions Session { get; } = new();

    /// <summary>Section <c>Cluster:Udp</c>.</summary>
    public UdpTransportOptions Udp { get; } = new();

    /// <summary>Section <c>Cluster:ZeroMq</c>.</summary>
    public ZeroMqTransportOptions ZeroMq { get; } = new();

    /// <summary>The URLs Kestrel listens on.</summary>
    public string Urls { get; set; } = string.Empty;

    public static HostSettings Load(IConfiguration configuration)
    {
        var settings = new HostSettings { Urls = configuration["Urls"] ?? string.Empty };
        var cluster = configuration.GetSection("Cluster");
        var session = configuration.GetSection("Session");
        var host = configuration.GetSection("Host");

        // The Cluster section holds the store's, the channel's and the host's own keys.
        CheckKeys(cluster, PropertyNames<ClusterStoreOptions>().Concat(PropertyNames<GroupChannelOptions>()).Concat(HostOwnClusterKeys));
        CheckKeys(session, PropertyNames<Multicast.Sessions.SessionOptions>().Concat(HostOwnSessionKeys));
        CheckKeys(session.GetSection("Cookie"), PropertyNames<CookieBuilder>());
        CheckKeys(host, ["EnableTestEndpoints", "EnableClusterPage"]);
        CheckKeys(cluster.GetSection("Udp"), PropertyNames<UdpTransportOptions>());
        CheckKeys(cluster.GetSection("ZeroMq"), PropertyNames<ZeroMqTransportOptions>().Append(nameof(ZeroMqTransportOptions.Peers)));

        settings.Transport = Get(cluster, "Transport", TransportKind.Udp);
        settings.Store = Get(cluster, "Store", StoreKind.Replicated);
        settings.EnableTestEndpoints = Get(host, "EnableTestEndpoints", false);
        settings.EnableClusterPage = Get(host, "EnableClusterPage", false);
        cluster.Bind(settings.Session.Cluster);
        cluster.Bind(settings.Session.Channel);
        if (string.IsNullOrEmpty(settings.Session.Channel.ClusterKey))
            settings.Session.Channel.ClusterKey = null; // an empty key in a file means none
        session.Bind(settings.Session.Session);
        session.GetSection("Cookie").Bind(settings.Session.Cookie);
        cluster.GetSection("Udp").Bind(settings.Udp);
        cluster.GetSection("ZeroMq").Bind(settings.ZeroMq);
        settings.Session.DefaultAccess = Get(session, "DefaultAccess", SessionAccess.Exclusive);
        settings.Session.RetryAfter = Get(session, "RetryAfter", ClusteredSessionOptions.DefaultRetryAfter);

        var firstUrl = FirstUrl(settings.Urls);
        if (string.IsNullOrWhiteSpace(cluster["NodeId"]))
        {
            // Stable across restarts on the same port, distinct between the nodes of one machine.
            settings.Session.Cluster.NodeId = firstUrl is null ? Environment.MachineName : $"{Environment.MachineName}-{firstUrl.Port}";
        }
        if (string.IsNullOrWhiteSpace(settings.Session.Cluster.PublicAddress) && firstUrl is not null && firstUrl.Port != 0)
            settings.Session.Cluster.PublicAddress = firstUrl.GetLeftPart(UriPartial.Authority);

        if (!Enum.IsDefined(settings.Transport))
            throw new OptionsValidationError("Cluster:Transport", "must be Udp or ZeroMq");
        if (!Enum.IsDefined(settings.Store))
            throw new OptionsValidationError("Cluster:Store", "must be Replicated or Ring");
        settings.Session.Channel.NodeId = settings.Session.Cluster.NodeId;
        settings.Session.Channel.PublicAddress = settings.Session.Cluster.PublicAddress;
        settings.Session.Validate();
        if (settings.Transport == TransportKind.ZeroMq)
            settings.ZeroMq.Validate();
        else
            settings.Udp.Validate();
        RequireKeyOffLoopback(settings);
        return settings;
    }

    /// <summary>Secure by default: without Cluster:ClusterKey the group must stay on this machine, unless
    /// Cluster:AllowInsecure=true says otherwise (the channel checks the same on its transport).</summary>
    private static void RequireKeyOffLoopback(HostSettings settings)
    {
        var channel = settings.Session.Channel;
        var onHost = settings.Transport == TransportKind.ZeroMq
            ? settings.ZeroMq.StaysOnHost()
            : System.Net.IPAddress.TryParse(settings.Udp.Interface, out var address) && System.Net.IPAddress.IsLoopback(address);
        if (channel.ClusterKey is null && !channel.AllowInsecure && !onHost)
        {
            throw new OptionsValidationError("Cluster:ClusterKey",
                $"is required when the {settings.Transport} transport is reachable from other machines (its interface is not loopback): generate one with " +
                "'openssl rand -base64 32' and set the same Cluster:ClusterKey on every node, or set Cluster:AllowInsecure=true to run without authentication");
        }
    }

    private static Uri? FirstUrl(string urls)
    {
        var first = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        if (first is null)
            return null;
        // Kestrel accepts wildcard hosts (http://*:5000, http://+:5000) that Uri does not.
        first = first.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
        if (!Uri.TryCreate(first, UriKind.Absolute, out var uri))
            throw new OptionsValidationError("Urls", $"'{first}' is not an absolute URL such as http://127.0.0.1:5000");
        return uri;
    }

    private static T Get<T>(IConfigurationSection section, string key, T fallback)
    {
        var value = section.GetSection(key);
        return value.Value is null ? fallback : section.GetValue(key, fallback)!;
    }

    private static IEnumerable<string> PropertyNames<T>() =>
        typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).Select(p => p.Name);

    private static void CheckKeys(IConfigurationSection section, IEnumerable<string> known)
    {
        var set = new HashSet<string>(known, StringComparer.OrdinalIgnoreCase);
        foreach (var child in section.GetChildren())
        {
            if (!set.Contains(child.Key))
                throw new OptionsValidationError(child.Path, $"is not a known setting (known in '{section.Path}': {string.Join(", ", set.Order(StringComparer.Ordinal))})");
        }
    }
}
