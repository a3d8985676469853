using System.Globalization;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;
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
            using var reader = new StreamReader(context.Request.Body, Encoding.UTF8);
            var value = await reader.ReadToEndAsync(context.RequestAborted);
            context.Session.SetString(key, value);
            return Results.NoContent();
        }).WithSessionAccess(SessionAccess.Exclusive);

        app.MapGet("/session/{key}", Results<ContentHttpResult, NotFound> (string key, HttpContext context) =>
            context.Session.GetString(key) is { } value ? TypedResults.Text(value) : TypedResults.NotFound())
            .WithSessionAccess(SessionAccess.ReadOnly);

        app.MapDelete("/session", async (HttpContext context) =>
        {
            await context.InvalidateSessionAsync(context.RequestAborted);
            return Results.NoContent();
        }).WithSessionAccess(SessionAccess.Exclusive);

        app.MapGet("/cluster", (ClusterNode node, ClusterMetrics metrics) => Results.Json(ClusterStatus.Of(node, metrics, settings)))
            .WithSessionAccess(SessionAccess.None);

        app.MapGet("/health", (ClusterNode node) => node.IsReady
                ? Results.Text("ok\n")
                : Results.Text(node.Started.IsFaulted ? "failed\n" : "joining\n", statusCode: StatusCodes.Status503ServiceUnavailable))
            .WithSessionAccess(SessionAccess.None);

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

    private static IResult Text(int value) => Results.Text(value.ToString(CultureInfo.InvariantCulture));
}
