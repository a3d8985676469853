using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Transport;

namespace Multicast.AspNetCore;

/// <summary>How the node's store is put together; set by <see cref="ClusteredSessionBuilder"/>.</summary>
internal sealed class ClusterComposition
{
    /// <summary>The transport under the reliable group channel.</summary>
    public Func<IServiceProvider, ITransport>? Transport { get; set; }

    /// <summary>The store over the channel; the replicated store when not set.</summary>
    public Func<IServiceProvider, IGroupChannel, IClusterStore>? Store { get; set; }

    /// <summary>A complete store of the application's own (transport and channel unused).</summary>
    public Func<IServiceProvider, IClusterStore>? CustomStore { get; set; }

    /// <summary>The session manager over the store; a plain <see cref="SessionManager"/> when not set.</summary>
    public Func<IServiceProvider, IClusterStore, SessionManager>? Manager { get; set; }
}
