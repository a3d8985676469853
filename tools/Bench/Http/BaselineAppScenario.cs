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
/// Core's own session (AddSession) on its non-replicated in-memory cache (AddDistributedMemoryCache) or on Redis
/// (AddStackExchangeRedisCache: what .NET teams run today, every process of the farm on one redis-server and one
/// Data Protection key ring so any process reads any cookie), or over the classic PostgreSQL-backed session
/// (<see cref="PostgresSessionMiddleware"/>). Runs until stopped.
/// </summary>
internal sealed class BaselineAppScenario : IBenchScenario
{
    private const string CountKey = "count";

    public string Name => "serve-baseline";

    public string Description => "(started by 'http') baseline app: --store memory|redis|postgres --urls URL [--redis HOST:PORT --keys DIR] [--postgres CONNECTION]";

    public async Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken)
    {
        var store = arguments.Get("store") ?? "memory";
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(arguments.Get("urls") ?? "http://127.0.0.1:5080");
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole().SetMinimumLevel(LogLevel.Warning);
        NpgsqlDataSource? dataSource = null;
        switch (store)
        {
            case "memory":
                builder.Services.AddDistributedMemoryCache();
                break;
            case "redis":
                builder.Services.AddStackExchangeRedisCache(o =>
                {
                    o.Configuration = arguments.Get("redis") ?? throw new ArgumentException("--redis HOST:PORT is required with --store redis");
                    o.InstanceName = "session:";
                });
                SharedKeyRing.Use(builder.Services, arguments.Get("keys") ?? throw new ArgumentException("--keys DIR (the shared Data Protection key ring) is required with --store redis"));
                break;
            case "postgres":
                dataSource = NpgsqlDataSource.Create(arguments.Get("postgres") ?? throw new ArgumentException("--postgres CONNECTION is required with --store postgres"));
                builder.Services.AddSingleton(dataSource);
                break;
            default:
                throw new ArgumentException($"--store must be memory, redis or postgres, not {store}");
        }
        if (store != "postgres")
        {
            builder.Services.AddSession(o =>
            {
                o.Cookie.Name = PostgresSessionMiddleware.CookieName;
                o.IdleTimeout = TimeSpan.FromMinutes(20);
            });
        }

        await using var app = builder.Build();
        if (store == "postgres")
            app.UseMiddleware<PostgresSessionMiddleware>();
        else
            app.UseSession();

        // The same endpoints as the node host's (Host/NodeEndpoints.cs), over HttpContext.Session. LoadAsync first, as
        // the ASP.NET Core docs ask (otherwise DistributedSession loads synchronously on first access).
        app.MapPost("/counter", async (HttpContext context) =>
        {
            await context.Session.LoadAsync(context.RequestAborted);
            var count = (context.Session.GetInt32(CountKey) ?? 0) + 1;
            context.Session.SetInt32(CountKey, count);
            return Results.Text(count.ToString(CultureInfo.InvariantCulture));
        });
        app.MapGet("/counter", async (HttpContext context) =>
        {
            await context.Session.LoadAsync(context.RequestAborted);
            return Results.Text((context.Session.GetInt32(CountKey) ?? 0).ToString(CultureInfo.InvariantCulture));
        });
        app.MapGet("/health", () => Results.Text("ok\n"));

        await app.StartAsync(cancellationToken);
        await app.WaitForShutdownAsync(cancellationToken);
        if (dataSource is not null)
            await dataSource.DisposeAsync();
        return new BenchReport();
    }
}
