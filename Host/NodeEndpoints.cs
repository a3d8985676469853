using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Multicast.AspNetCore;
using Multicast.Sessions;

namespace Multicast.Host;

/// <summary>The node's own endpoints (a stable contract for the tests and tools; see docs/host.md).</summary>
internal static class NodeEndpoints
{
    private const string CountKey = "count";

    public static void MapNodeEndpoints(this WebApplication app, HostSettings settings)
    {
        app.MapPost("/counter", (HttpContext context) =>
        {
            var session = context.Session;
            var count = (session.GetInt32(CountKey) ?? 0) + 1;
            session.SetInt32(CountKey, count);
            return Text(count);
        }).WithSessionAccess(SessionAccess.Exclusive);

        app.MapGet("/counter", (HttpContext context) => Text(context.Session.GetInt32(CountKey) ?? 0))
            .WithSessionAccess(SessionAccess.ReadOnly);

        app.MapPut("/session/{key}", async (string key, HttpContext context) =>
        {
            // A body that alone exceeds the session's maximum is refused before it is read (Kestrel limits the rest).
            var max = settings.Session.Session.MaxSessionBytes;
            if (context.Request.ContentLength > max)
                return Results.Text($"The value is {context.Request.ContentLength} bytes, more than Session:MaxSessionBytes ({max}); nothing was stored.\n", statusCode: StatusCodes.Status413PayloadTooLarge);
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var value = await reader.ReadToEndAsync(context.RequestAborted);
            context.Session.SetString(key, value);
            return Results.NoContent();
        }).WithSessionAccess(SessionAccess.Exclusive);

        app.MapGet("/session/{key}", Results<ContentHttpResult, NotFound> (string key, HttpContext context) =>
            context.Session.GetString(key) is { } value ? TypedResults.Text(value) : TypedResults.NotFound())
            .WithSessionAccess(SessionAccess.ReadOnly);

        app.MapPost("/session/regenerate", async (HttpContext context) =>
        {
            await context.RegenerateSessionIdAsync(context.RequestAborted);
            return Results.NoContent();
        }).WithSessionAccess(SessionAccess.Exclusive);

        app.MapDelete("/session", async (HttpContext context) =>
        {
            await context.InvalidateSessionAsync(context.RequestAborted);
            return Results.NoContent();
        }).WithSessionAccess(SessionAccess.Exclusive);

        app.MapGet("/cluster", (ClusterNode node, ClusterMetrics metrics) => Results.Json(ClusterStatus.Of(node, metrics, settings)))
            .WithSessionAccess(SessionAccess.None);

        // The standard health check (Microsoft.Extensions.Diagnostics.HealthChecks) behind the stable contract:
        // 200 "ok" (or "degraded": serving, the write concern cannot currently be met), 503 "joining"/"leaving"/... otherwise.
        app.MapHealthChecks("/health", new HealthCheckOptions
        {
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status200OK,
                [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
            },
            ResponseWriter = WriteHealthAsync,
        }).WithSessionAccess(SessionAccess.None);

        app.MapPrometheusScrapingEndpoint("/metrics").WithSessionAccess(SessionAccess.None);
        app.MapClusterPage(settings);

        if (settings.EnableTestEndpoints)
            MapTestEndpoints(app);
    }

    /// <summary>
    /// Endpoints for the end-to-end tests, mapped only with <c>Host:EnableTestEndpoints=true</c>: <c>POST /test/hold</c>
    /// increments the counter and keeps its exclusive lock until <c>POST /test/release</c> (at most 30 s), so a
    /// test can prove that other requests are or are not blocked without measuring time.
    /// </summary>
    private static void MapTestEndpoints(WebApplication app)
    {
        var gate = new HoldGate();
        app.MapPost("/test/hold", async (HttpContext context) =>
        {
            var count = (context.Session.GetInt32(CountKey) ?? 0) + 1;
            context.Session.SetInt32(CountKey, count);
            await gate.HoldAsync(TimeSpan.FromSeconds(30), context.RequestAborted);
            return Text(count);
        }).WithSessionAccess(SessionAccess.Exclusive);

        app.MapGet("/test/holding", () => Text(gate.Holding)).WithSessionAccess(SessionAccess.None);

        app.MapPost("/test/release", () => Text(gate.ReleaseAll())).WithSessionAccess(SessionAccess.None);
    }

    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        var entry = report.Entries.TryGetValue(ClusteredSessionHealthChecks.Name, out var e) ? e : default;
        var word = report.Status switch
        {
            HealthStatus.Healthy => "ok",
            HealthStatus.Degraded => "degraded",
            _ => entry.Description?.Split(':')[0] ?? "unhealthy",
        };
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(word + "\n");
    }

    private static IResult Text(int value) => Results.Text(value.ToString(CultureInfo.InvariantCulture));
}
