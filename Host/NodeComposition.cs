using Multicast.AspNetCore;

namespace Multicast.Host;

/// <summary>Plugs the configured transport and store into the clustered session.</summary>
internal static class NodeComposition
{
    public static void Configure(ClusteredSessionBuilder clustered, HostSettings settings, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(clustered);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(configuration);
        // Transports and stores are wired in as they land on main.
    }
}
