using Microsoft.AspNetCore.Builder;
using Multicast.Sessions;

namespace Multicast.AspNetCore;

/// <summary>Declares an endpoint's session access on minimal APIs and route groups.</summary>
public static class SessionAccessEndpointConventionBuilderExtensions
{
    /// <summary>Adds <see cref="SessionAccessAttribute"/> metadata: <see cref="SessionAccess.ReadOnly"/> and
    /// <see cref="SessionAccess.None"/> take no lock.</summary>
    public static TBuilder WithSessionAccess<TBuilder>(this TBuilder builder, SessionAccess access)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.WithMetadata(new SessionAccessAttribute(access));
        return builder;
    }
}
