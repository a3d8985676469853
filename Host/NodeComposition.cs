using Multicast.AspNetCore;

namespace Multicast.Host;

/// <summary>Plugs the configured transport and store into the clustered session.</summary>
internal static class NodeComposition
{
    public static void Configure(ClusteredSessionBuilder clustered, HostSettings settings)
    {
        ArgumentNullException.ThrowIfNull(clustered);
        ArgumentNullException.ThrowIfNull(settings);
        if (settings.Transport == TransportKind.ZeroMq)
            clustered.UseZeroMq(settings.ZeroMq);
        else
            clustered.UseUdpMulticast(settings.Udp);
        if (settings.Store == StoreKind.Ring)
            clustered.UseRingStore();
        else
            clustered.UseReplicatedStore();
    }
}
