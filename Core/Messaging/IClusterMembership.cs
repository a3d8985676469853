namespace Multicast.Messaging;

/// <summary>Something that knows the cluster's current membership view, such as a cluster store built on a group
/// channel. Hosts use it for status pages and metrics; a store need not implement it.</summary>
public interface IClusterMembership
{
    /// <summary>This node's current membership view.</summary>
    MembershipView View { get; }
}
