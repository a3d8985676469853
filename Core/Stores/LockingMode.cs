using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>Whether exclusive requests lock their session.</summary>
public enum LockingMode
{
    /// <summary>Exclusive requests take the session lock, arbitrated by the session's owner. The default.</summary>
    Pessimistic = 0,

    /// <summary>No lock (browsers rarely send concurrent requests): concurrent writes merge per attribute, in the order
    /// the session's arbiter sequences them (the last one it receives wins each attribute).</summary>
    None = 1,
}
