using Multicast.Stores;
using Multicast.Transport;

namespace Multicast.AspNetCore;

/// <summary>How the node's store is put together; set by <see cref="ClusteredSessionBuilder"/>.</summary>
internal sealed class ClusterComposition
{
    public Func<IServiceProvider, ITransport>? Transport { get; set; }

    public Func<IServiceProvider, IClusterStore>? Store { get; set; }
}
