using Multicast.AspNetCore;

namespace OpenTelemetry.Metrics;

/// <summary>Exports the <c>Multicast</c> meter through OpenTelemetry (opt-in).</summary>
public static class MulticastMeterProviderBuilderExtensions
{
    /// <summary>
    /// Subscribes to the <c>Multicast</c> meter: the node's sessions, view, commits (with their duration: the replication
    /// lag a request pays), lock waits and conflicts, and the store's, channel's and transport's counters (repairs,
    /// drops, rejected datagrams). E.g. <c>services.AddOpenTelemetry().WithMetrics(m =&gt;
    /// m.AddMulticastInstrumentation().AddPrometheusExporter())</c>. <c>dotnet-counters</c> reads the meter without it.
    /// </summary>
    public static MeterProviderBuilder AddMulticastInstrumentation(this MeterProviderBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.AddMeter(ClusterMetrics.MeterName);
    }
}
