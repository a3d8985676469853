using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Multicast.AspNetCore;

/// <summary>What <c>HttpContext.Session</c> cannot express: invalidating the session cluster-wide, and moving it to a new id.</summary>
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

    /// <summary>
    /// Moves the request's session to a new id on every node (the defence against session fixation: call it when the
    /// user signs in), keeping its values; the old id no longer finds it, and the answer sets the new cookie. Needs
    /// exclusive access. A request whose session is new (or that has none) keeps its fresh id.
    /// </summary>
    /// <returns>The session's id after the move (empty when the request has no session).</returns>
    /// <exception cref="InvalidOperationException">The clustered session middleware did not run, or the endpoint is not exclusive.</exception>
    /// <exception cref="Multicast.Sessions.ClusterUnavailableException">The cluster cannot take the write now (answered 503);
    /// the session keeps its old id.</exception>
    public static Task<string> RegenerateSessionIdAsync(this HttpContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Features.Get<ISessionFeature>() is not ClusteredSessionFeature feature)
            throw new InvalidOperationException("The clustered session is not active: call app.UseClusteredSession().");
        return feature.Clustered.RegenerateIdAsync(cancellationToken);
    }
}
