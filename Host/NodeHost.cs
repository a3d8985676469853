using System.Reflection;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.Options;
using Multicast.AspNetCore;
using OpenTelemetry.Metrics;
using Serilog;

namespace Multicast.Host;

/// <summary>The node host: configuration (embedded defaults, appsettings.json, environment, command line), Serilog,
/// OpenTelemetry metrics, the clustered session and the node's endpoints.</summary>
internal static class NodeHost
{
    /// <summary>Invalid configuration.</summary>
    public const int ConfigurationError = 2;

    /// <summary>The node could not start (address in use, transport failed, could not join).</summary>
    public const int StartError = 1;

    public static async Task<int> RunAsync(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        // Embedded defaults first, so every other source (appsettings.json, environment, command line) overrides them.
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Json.JsonStreamConfigurationSource
        {
            Stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Multicast.Host.appsettings.json")
                ?? throw new InvalidOperationException("The embedded appsettings.json is missing from the build."),
        });

        HostSettings settings;
        try
        {
            settings = HostSettings.Load(builder.Configuration);
        }
        catch (Exception ex) when (ex is OptionsValidationError or InvalidOperationException or FormatException)
        {
            await Console.Error.WriteLineAsync($"multicast: {ex.Message}");
            return ConfigurationError;
        }

        // Serilog.AspNetCore: the Serilog section configures sinks and levels; Serilog replaces the default providers.
        builder.Services.AddSerilog((services, logging) => logging
            .ReadFrom.Configuration(builder.Configuration)
            .ReadFrom.Services(services)
            .Enrich.WithProperty("NodeId", settings.Session.Cluster.NodeId));
        builder.WebHost.UseUrls(settings.Urls);
        // The Multicast meter (and ASP.NET Core's own) scraped by Prometheus at /metrics; dotnet-counters reads the same meters.
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMulticastInstrumentation()
            .AddMeter("Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel")
            .AddPrometheusExporter());

        var clustered = builder.Services.AddClusteredSession(o =>
        {
            o.Cluster = settings.Session.Cluster;
            o.Session = settings.Session.Session;
            o.Channel = settings.Session.Channel;
            o.Cookie = settings.Session.Cookie;
            o.DefaultAccess = settings.Session.DefaultAccess;
            o.RetryAfter = settings.Session.RetryAfter;
        });
        NodeComposition.Configure(clustered, settings);
        builder.Services.AddClusterPage();
        UseWarmUp(builder.Services);

        var app = builder.Build();
        app.UseSerilogRequestLogging();
        app.UseClusteredSession();
        app.MapNodeEndpoints(settings);
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Multicast.Host");
        var node = app.Services.GetRequiredService<ClusterNode>();
        try
        {
            await app.RunAsync();
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync($"multicast: {string.Join("; ", ex.Failures)}");
            return ConfigurationError;
        }
        catch (OperationCanceledException) when (node.Started.IsFaulted)
        {
            // The node failed to join while the server was still starting: the failure is logged by the node service.
            return StartError;
        }
        catch (IOException ex)
        {
            // Kestrel could not bind (address in use, no permission).
            logger.LogCritical(ex, "The node could not start");
            await Console.Error.WriteLineAsync($"multicast: {ex.Message}");
            return StartError;
        }
        return node.Started.IsFaulted ? StartError : 0;
    }

    /// <summary>Wraps the server (Kestrel) in <see cref="WarmUpServer"/>: the pipeline runs once in process before it listens.</summary>
    private static void UseWarmUp(IServiceCollection services)
    {
        var server = services.LastOrDefault(d => d.ServiceType == typeof(IServer) && d.ImplementationType is not null)
            ?? throw new InvalidOperationException("No server (Kestrel) is registered to warm up.");
        services.Remove(server);
        services.AddSingleton<IServer>(provider => new WarmUpServer(
            (IServer)ActivatorUtilities.CreateInstance(provider, server.ImplementationType!),
            provider.GetRequiredService<TimeProvider>(),
            provider.GetRequiredService<ILogger<WarmUpServer>>()));
    }
}
