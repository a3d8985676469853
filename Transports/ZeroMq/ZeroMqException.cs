namespace Multicast.Transports.ZeroMq;

/// <summary>A ZeroMQ socket could not bind or connect the endpoint a configuration key gives (the address is in use,
/// not local, or its host does not resolve). The message names the key; the inner exception is NetMQ's.</summary>
public sealed class ZeroMqException : Exception
{
    /// <summary>Creates the exception for the endpoint of <paramref name="key"/>.</summary>
    /// <param name="key">The configuration key of the endpoint, e.g. <c>Cluster:ZeroMq:UnicastEndpoint</c>.</param>
    /// <param name="endpoint">The endpoint.</param>
    /// <param name="operation">What failed: <c>bind</c> or <c>connect</c>.</param>
    /// <param name="reason">Why, in words.</param>
    /// <param name="innerException">NetMQ's exception.</param>
    public ZeroMqException(string key, string endpoint, string operation, string reason, Exception innerException)
        : base($"ZeroMQ could not {operation} {endpoint} (configuration '{key}'): {reason}.", innerException)
    {
        Key = key;
        Endpoint = endpoint;
    }

    /// <summary>Creates the exception.</summary>
    public ZeroMqException() : this("ZeroMQ failed.") { }

    /// <summary>Creates the exception.</summary>
    public ZeroMqException(string message) : base(message) { }

    /// <summary>Creates the exception.</summary>
    public ZeroMqException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>The configuration key whose endpoint failed; <see langword="null"/> when no key names it.</summary>
    public string? Key { get; }

    /// <summary>The endpoint that failed; <see langword="null"/> when none is known.</summary>
    public string? Endpoint { get; }
}
