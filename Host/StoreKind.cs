namespace Multicast.Host;

/// <summary>The cluster store a node uses (<c>Cluster:Store</c>).</summary>
internal enum StoreKind
{
    /// <summary>Every node holds every session (the default).</summary>
    Replicated = 0,

    /// <summary>Each session on its owner plus <c>Cluster:Backups</c> next nodes in ring order.</summary>
    Ring = 1,
}
