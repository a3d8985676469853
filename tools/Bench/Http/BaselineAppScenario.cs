using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Multicast.Bench.Http;

/// <summary>
/// The http scenario's baseline apps (run as child processes by it): the host's counter endpoints over ASP.NET
/// Core's own non-replicated in-memory session (AddDistributedMemoryCache + AddSession), or over the classic
/// PostgreSQL-backed session (<see cref="PostgresSessionMiddleware"/>). Runs until stopped.
/// </summary>
internal sealed class BaselineAppScenario : IBenchScenario
{
    private const string CountKey = "count";

    public string Name => "serve-baseline";

    public string Description => "(started by 'http') baseline app: --store memory|postgres --urls URL [--postgres CONNECTION]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var store = arguments.Get("store") ?? "memory";
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(arguments.Get("urls") ?? "http://127.0.0.1:5080");
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Warning);
        NpgsqlDataSource? dataSource = null;
        if (store == "memory")
        {
            builder.Services.AddDistributedMemoryCache();
            builder.Services.AddSession(o =>
            {
                o.Cookie.Name = PostgresSessionMiddleware.CookieName;
                o.IdleTimeout = TimeSpan.FromMinutes(20);
            });
        }
        else
        {
            dataSource = NpgsqlDataSource.Create(arguments.Get("postgres") ?? throw new ArgumentException("--postgres CONNECTION is required"));
            builder.Services.AddSingleton(dataSource);
        }

        await using var app = builder.Build();
        if (store == "memory")
            app.UseSession();
        else
            app.UseMiddleware<PostgresSessionMiddleware>();

        // The same endpoints as the node host's (Host/NodeEndpoints.cs), over HttpContext.Session.
        app.MapPost("/counter", (HttpContext context) =>
        {
            var count = (context.Session.GetInt32(CountKey) ?? 0) + 1;
            context.Session.SetInt32(CountKey, count);
            return Results.Text(count.ToString(CultureInfo.InvariantCulture));
        });
        app.MapGet("/counter", (HttpContext context) => Results.Text((context.Session.GetInt32(CountKey) ?? 0).ToString(CultureInfo.InvariantCulture)));
        app.MapGet("/health", () => Results.Text("ok\n"));

        await app.StartAsync(cancellationToken);
        await app.WaitForShutdownAsync(cancellationToken);
        if (dataSource is not null)
            await dataSource.DisposeAsync();
        return new BenchReport();
    }
}
