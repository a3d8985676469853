using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json;
using Multicast.AspNetCore;
using Multicast.Messaging;
using Multicast.Sessions;

namespace Multicast.Host;

/// <summary>
/// The live cluster page (<c>GET /cluster/ui</c>) and the two endpoints it reads besides <c>GET /cluster</c>:
/// <c>GET /cluster/nodes</c> (every member's <c>/cluster</c>, fetched by this node) and <c>GET /cluster/sessions/{id}</c>
/// (where one session lives: owner, backups, version, size; never its values). Plain HTML and a little script,
/// embedded in the assembly. Answered only to loopback clients unless <c>Host:EnableClusterPage=true</c>.
/// </summary>
internal static class ClusterPage
{
    /// <summary>How long the page waits for a peer's answer before it shows the peer as unreachable.</summary>
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(1.5);

    private static readonly string Html = Resource("index.html");
    private static readonly string Script = Resource("app.js");

    private const string HttpClientName = "Multicast.Host.ClusterPage";

    private const string Policy = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'";

    public static void AddClusterPage(this IServiceCollection services) =>
        services.AddHttpClient(HttpClientName, c => c.Timeout = PeerTimeout)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false, UseProxy = false });

    public static void MapClusterPage(this WebApplication app, HostSettings settings)
    {
        var group = app.MapGroup("/cluster").WithSessionAccess(SessionAccess.None);
        group.AddEndpointFilter(async (context, next) => Allowed(context.HttpContext, settings)
            ? await next(context)
            : Results.Text("The cluster page is off: set Host:EnableClusterPage=true (loopback clients always see it).\n", statusCode: StatusCodes.Status403Forbidden));

        group.MapGet("/ui", (HttpContext context) => Asset(context, Html, "text/html; charset=utf-8"));
        group.MapGet("/ui/app.js", (HttpContext context) => Asset(context, Script, "text/javascript; charset=utf-8"));

        group.MapGet("/nodes", async (ClusterNode node, ClusterMetrics metrics, IHttpClientFactory clients, CancellationToken cancellationToken) =>
        {
            var http = clients.CreateClient(HttpClientName);
            var entries = await Task.WhenAll(node.View.Members.Select(m => m.NodeId == node.NodeId
                ? Task.FromResult(new NodeEntry(m.NodeId, m.PublicAddress, true, ClusterStatus.Of(node, metrics, settings), null))
                : FetchAsync(http, m, cancellationToken)));
            return Results.Json(entries);
        });

        group.MapGet("/sessions/{id}", async (string id, bool? local, ClusterNode node, IHttpClientFactory clients, CancellationToken cancellationToken) =>
        {
            if (!SessionIds.TryParseOwner(id, out var ring))
                return Results.Text("Not a session id.\n", statusCode: StatusCodes.Status400BadRequest);
            var lookup = Lookup(id, ring, node, settings);
            if (lookup.Found || local == true)
                return Results.Json(lookup);
            // Not held here (ring store): ask the members that must hold it.
            var http = clients.CreateClient(HttpClientName);
            foreach (var holder in Holders(lookup, node.View).Where(m => m.NodeId != node.NodeId && m.PublicAddress.Length > 0))
            {
                try
                {
                    var remote = await http.GetFromJsonAsync<SessionLookup>(
                        new Uri(new Uri(holder.PublicAddress), $"/cluster/sessions/{Uri.EscapeDataString(id)}?local=true"), JsonSerializerOptions.Web, cancellationToken);
                    if (remote is { Found: true })
                        return Results.Json(remote);
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or NotSupportedException)
                {
                    // That holder is down or slow: try the next one.
                }
            }
            return Results.Json(lookup);
        });
    }

    internal static bool Allowed(HttpContext context, HostSettings settings)
    {
        if (settings.EnableClusterPage)
            return true;
        var ip = context.Connection.RemoteIpAddress;
        if (ip is null)
            return false;
        return IPAddress.IsLoopback(ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip);
    }

    /// <summary>Where the session lives by the current view, and what this node holds of it.</summary>
    internal static SessionLookup Lookup(string id, int ring, ClusterNode node, HostSettings settings)
    {
        var view = node.View;
        var owner = view.ActingOwner(ring);
        IEnumerable<Member> backups = owner is null ? []
            : settings.Store == StoreKind.Ring ? view.Successors(owner, node.Options.Cluster.Backups)
            : view.Members.Where(m => m.NodeId != owner.NodeId);
        var state = node.Manager.Table.Get(id);
        return new SessionLookup(
            id, ring.ToString("x4", System.Globalization.CultureInfo.InvariantCulture), owner?.NodeId, [.. backups.Select(m => m.NodeId)],
            state is not null, state is null ? null : node.NodeId,
            state?.Version, state?.Size, state?.Attributes.Count, state?.LastWriter,
            state?.CreatedAt, state?.LastAccessedAt, state?.ExpiresAt);
    }

    private static IEnumerable<Member> Holders(SessionLookup lookup, MembershipView view) =>
        new[] { lookup.Owner }.Concat(lookup.Backups).OfType<string>().Select(view.Find).OfType<Member>();

    private static async Task<NodeEntry> FetchAsync(HttpClient http, Member member, CancellationToken cancellationToken)
    {
        if (member.PublicAddress.Length == 0)
            return new NodeEntry(member.NodeId, member.PublicAddress, false, null, "no public address (Cluster:PublicAddress)");
        try
        {
            var status = await http.GetFromJsonAsync<JsonElement>(new Uri(new Uri(member.PublicAddress), "/cluster"), cancellationToken);
            return new NodeEntry(member.NodeId, member.PublicAddress, true, status, null);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or UriFormatException)
        {
            return new NodeEntry(member.NodeId, member.PublicAddress, false, null, ex.Message);
        }
    }

    private static IResult Asset(HttpContext context, string content, string type)
    {
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers.ContentSecurityPolicy = Policy;
        context.Response.Headers.XContentTypeOptions = "nosniff";
        return Results.Content(content, type);
    }

    private static string Resource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Multicast.Host.ClusterPage." + name)
            ?? throw new InvalidOperationException($"The embedded cluster page file '{name}' is missing from the build.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>One member as <c>GET /cluster/nodes</c> reports it: its own <c>/cluster</c> answer, or why there is none.</summary>
    internal sealed record NodeEntry(string NodeId, string PublicAddress, bool Reachable, object? Status, string? Error);

    /// <summary>Where a session lives (<c>GET /cluster/sessions/{id}</c>): never its values.</summary>
    internal sealed record SessionLookup(
        string Id, string RingPosition, string? Owner, IReadOnlyList<string> Backups, bool Found, string? HeldBy,
        long? Version, int? SizeBytes, int? Attributes, string? LastWriter,
        DateTimeOffset? CreatedAt, DateTimeOffset? LastAccessedAt, DateTimeOffset? ExpiresAt);
}
