using NetMQ;

namespace Multicast.Transports.ZeroMq;

/// <summary>
/// The CURVE key pairs of one node, from <see cref="ZeroMqTransportOptions"/>: the cluster's server key pair (every
/// bound socket is a CURVE server with it) and this node's client key pair (every connecting socket is a CURVE
/// client of the server's public key).
/// </summary>
internal sealed class CurveKeys
{
    private const string Prefix = ZeroMqTransportOptions.SectionName + ":";

    private CurveKeys(NetMQCertificate server, NetMQCertificate client)
    {
        Server = server;
        Client = client;
    }

    public NetMQCertificate Server { get; }

    public NetMQCertificate Client { get; }

    /// <summary>The keys the options give, or <see langword="null"/> when CURVE is off. The options are valid.</summary>
    public static CurveKeys? From(ZeroMqTransportOptions options)
    {
        if (options.CurveServerSecretKey is not { } secret)
            return null;
        var client = options.CurveClientSecretKey is { } clientSecret ? NetMQCertificate.CreateFromSecretKey(clientSecret) : new NetMQCertificate();
        return new CurveKeys(NetMQCertificate.CreateFromSecretKey(secret), client);
    }

    /// <summary>Makes <paramref name="socket"/> a CURVE server (a bound socket).</summary>
    public void Serve(NetMQSocket socket)
    {
        socket.Options.CurveServer = true;
        socket.Options.CurveCertificate = Server;
    }

    /// <summary>Makes <paramref name="socket"/> a CURVE client of the cluster's server key (a connecting socket).</summary>
    public void Connect(NetMQSocket socket)
    {
        socket.Options.CurveServerKey = Server.PublicKey;
        socket.Options.CurveCertificate = Client;
    }

    /// <summary>Throws <see cref="OptionsValidationError"/> naming the first CURVE key that is not a valid Z85 key or
    /// that does not match its pair.</summary>
    public static void Validate(ZeroMqTransportOptions options)
    {
        var server = options.CurveServerSecretKey;
        if (server is null)
        {
            if (options.CurveServerPublicKey is not null)
                throw new OptionsValidationError(Prefix + nameof(options.CurveServerPublicKey), "is set without Cluster:ZeroMq:CurveServerSecretKey; CURVE needs the server's secret key on every node");
            if (options.CurveClientSecretKey is not null)
                throw new OptionsValidationError(Prefix + nameof(options.CurveClientSecretKey), "is set without Cluster:ZeroMq:CurveServerSecretKey; CURVE needs the server's secret key on every node");
            return;
        }
        var pair = Parse(Prefix + nameof(options.CurveServerSecretKey), server, secret: true);
        if (options.CurveServerPublicKey is { } expected
            && !Parse(Prefix + nameof(options.CurveServerPublicKey), expected, secret: false).PublicKey.AsSpan().SequenceEqual(pair.PublicKey))
        {
            throw new OptionsValidationError(Prefix + nameof(options.CurveServerPublicKey), $"'{expected}' is not the public key of Cluster:ZeroMq:CurveServerSecretKey (that is {pair.PublicKeyZ85})");
        }
        if (options.CurveClientSecretKey is { } client)
            Parse(Prefix + nameof(options.CurveClientSecretKey), client, secret: true);
    }

    private static NetMQCertificate Parse(string key, string value, bool secret)
    {
        if (value.Length != 40)
            throw new OptionsValidationError(key, $"has {value.Length} characters; a CURVE key is 40 characters of Z85 (e.g. from zmq.curve_keypair() or new NetMQCertificate())");
        try
        {
            return secret ? NetMQCertificate.CreateFromSecretKey(value) : NetMQCertificate.FromPublicKey(value);
        }
        catch (ArgumentException e)
        {
            throw new OptionsValidationError(key, $"is not a Z85 CURVE key: {e.Message}");
        }
    }
}
