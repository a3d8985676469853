using Microsoft.Extensions.Logging;
using Multicast.Transport;
using Multicast.Transports.ZeroMq;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Plugs the ZeroMQ transport (<see cref="ZeroMqTransport"/>, on NetMQ) into a clustered session:
/// <c>builder.Services.AddClusteredSession(...).UseZeroMq(o => o.Peers.Add("tcp://10.0.0.2:5555"))</c>.</summary>
public static class ZeroMqTransportBuilderExtensions
{
    /// <summary>
    /// Uses ZeroMQ PUB/SUB (NetMQ, nothing to install) to a static list of peers (<see cref="ZeroMqTransportOptions.Peers"/>)
    /// or peers found by the beacon; <paramref name="configure"/> changes the defaults. The options are validated now.
    /// </summary>
    /// <exception cref="Multicast.OptionsValidationError">An option is invalid; the message names its key.</exception>
    public static TBuilder UseZeroMq<TBuilder>(this TBuilder builder, Action<ZeroMqTransportOptions>? configure = null)
        where TBuilder : ITransportBuilder
    {
        var options = new ZeroMqTransportOptions();
        configure?.Invoke(options);
        return builder.UseZeroMq(options);
    }

    /// <summary>Uses ZeroMQ with <paramref name="options"/> (e.g. bound from configuration section
    /// <c>Cluster:ZeroMq</c>), validated now. The transport logs through the application's <see cref="ILoggerFactory"/>
    /// and takes its <see cref="TimeProvider"/> when one is registered.</summary>
    /// <exception cref="Multicast.OptionsValidationError">An option is invalid; the message names its key.</exception>
    public static TBuilder UseZeroMq<TBuilder>(this TBuilder builder, ZeroMqTransportOptions options)
        where TBuilder : ITransportBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        builder.UseTransport(services => new ZeroMqTransport(options, services.GetService<ILogger<ZeroMqTransport>>(), services.GetService<TimeProvider>()));
        return builder;
    }
}
