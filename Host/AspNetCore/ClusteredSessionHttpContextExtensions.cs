using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Multicast.AspNetCore;

/// <summary>What <c>HttpContext.Session</c> cannot express: invalidating the session cluster-wide.</summary>
public static class ClusteredSessionHttpContextExtensions
{
    /// <summary>
    /// Removes the request's session from every node and deletes its cookie. Needs exclusive access.
    /// Does nothing when the request has no session.
    /// </summary>
    /// <exception cref="InvalidOperationException">The clustered session middleware did not run, or the endpoint is not exclusive.</exception>
    public static Task InvalidateSessionAsync(this HttpContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Features.Get<ISessionFeature>() is not ClusteredSessionFeature feature)
            throw new InvalidOperationException("The clustered session is not active: call app.UseClusteredSession().");
        return feature.Clustered.InvalidateAsync(cancellationToken);
    }
}
