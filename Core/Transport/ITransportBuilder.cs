namespace Multicast.Transport;

/// <summary>
/// Where a transport plugs in: the builder that <c>AddClusteredSession</c> returns implements it, so that a
/// transport's assembly can offer its own extension method (<c>UseZeroMq</c>, as serializers extend
/// <c>AddHybridCache</c>) without the builder knowing the transport.
/// </summary>
public interface ITransportBuilder
{
    /// <summary>Uses a transport built by <paramref name="factory"/> (called once, when the node is built) under the
    /// reliable group channel. The last transport plugged in wins.</summary>
    /// <returns>This builder.</returns>
    ITransportBuilder UseTransport(Func<IServiceProvider, ITransport> factory);
}
