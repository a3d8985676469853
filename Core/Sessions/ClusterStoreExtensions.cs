namespace Multicast.Sessions;

/// <summary>Helpers over <see cref="IClusterStore"/>.</summary>
public static class ClusterStoreExtensions
{
    /// <summary>Whether the store serves requests: <see cref="ClusterStoreStatus.Ready"/> or <see cref="ClusterStoreStatus.Degraded"/>.</summary>
    public static bool IsReady(this IClusterStore store)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.Status is ClusterStoreStatus.Ready or ClusterStoreStatus.Degraded;
    }
}
