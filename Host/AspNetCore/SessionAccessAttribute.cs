using Multicast.Sessions;

namespace Multicast.AspNetCore;

/// <summary>
/// Endpoint metadata: how the endpoint uses its session. <see cref="SessionAccess.ReadOnly"/> and
/// <see cref="SessionAccess.None"/> take no lock, so they never wait behind a request that writes.
/// Endpoints without it use <see cref="ClusteredSessionOptions.DefaultAccess"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method | AttributeTargets.Delegate, AllowMultiple = false, Inherited = true)]
public sealed class SessionAccessAttribute : Attribute
{
    /// <summary>Declares the endpoint's session access.</summary>
    public SessionAccessAttribute(SessionAccess access)
    {
        Access = access;
    }

    /// <summary>How the endpoint uses its session.</summary>
    public SessionAccess Access { get; }
}
