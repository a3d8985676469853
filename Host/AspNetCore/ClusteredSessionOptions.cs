using Microsoft.AspNetCore.Http;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.AspNetCore;

/// <summary>The ASP.NET Core drop-in's options: the session cookie, default access, and the node's session and cluster settings.</summary>
public sealed class ClusteredSessionOptions
{
    /// <summary>The default cookie name.</summary>
    public const string DefaultCookieName = ".Multicast.Session";

    /// <summary>The default <c>Retry-After</c> on a 503 answer: 1 second.</summary>
    public static readonly TimeSpan DefaultRetryAfter = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The session cookie. Its value is the session id (128 random bits), readable by every node without
    /// shared keys. Set <see cref="CookieBuilder.Domain"/> (e.g. <c>.example.com</c>) so that
    /// www1.example.com and www2.example.com share sessions.
    /// </summary>
    /// <value>The default value is <c>.Multicast.Session</c>, path <c>/</c>, HttpOnly, SameSite Lax,
    /// secure when the request is, essential, no expiry (a browser-session cookie).</value>
    public CookieBuilder Cookie { get; set; } = new()
    {
        Name = DefaultCookieName,
        Path = "/",
        HttpOnly = true,
        SameSite = SameSiteMode.Lax,
        SecurePolicy = CookieSecurePolicy.SameAsRequest,
        IsEssential = true,
    };

    /// <summary>The access of endpoints that declare none (<see cref="SessionAccessAttribute"/>).</summary>
    /// <value>The default value is <see cref="SessionAccess.Exclusive"/>.</value>
    public SessionAccess DefaultAccess { get; set; } = SessionAccess.Exclusive;

    /// <summary>The <c>Retry-After</c> sent with 503 answers (lock wait timed out, node joining, write concern not met).</summary>
    /// <value>The default value is 1 second.</value>
    public TimeSpan RetryAfter { get; set; } = DefaultRetryAfter;

    /// <summary>Session behaviour (idle timeout, maximum size, always-save).</summary>
    public SessionOptions Session { get; set; } = new();

    /// <summary>This node's place in the cluster: node id, public address, write concern, locking.</summary>
    public ClusterStoreOptions Cluster { get; set; } = new();

    /// <summary>The reliable group channel: cluster id, cluster key (authentication, encryption), datagram size,
    /// heartbeats. Its node id and public address are taken from <see cref="Cluster"/>.</summary>
    public GroupChannelOptions Channel { get; set; } = new();

    /// <summary>Throws <see cref="OptionsValidationError"/> naming the setting to fix.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Cookie?.Name))
            throw new OptionsValidationError("Session:Cookie:Name", "must not be empty");
        if (!Enum.IsDefined(DefaultAccess))
            throw new OptionsValidationError("Session:DefaultAccess", "must be Exclusive, ReadOnly or None");
        if (RetryAfter < TimeSpan.Zero)
            throw new OptionsValidationError("Session:RetryAfter", "must not be negative");
        ArgumentNullException.ThrowIfNull(Session);
        ArgumentNullException.ThrowIfNull(Cluster);
        Session.Validate();
        Cluster.Validate();
        ArgumentNullException.ThrowIfNull(Channel);
        Channel.Validate();
    }
}
