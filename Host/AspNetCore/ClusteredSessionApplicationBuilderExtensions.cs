using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Multicast.AspNetCore;

/// <summary>Adds the clustered session middleware to the pipeline.</summary>
public static class ClusteredSessionApplicationBuilderExtensions
{
    /// <summary>
    /// Makes <c>HttpContext.Session</c> the cluster's session. Place it after <c>UseRouting</c> (the minimal
    /// hosting model adds routing first on its own) so the endpoint's <see cref="SessionAccessAttribute"/> is known:
    /// an exclusive request takes the session's lock here, before the endpoint runs, and releases it after the commit.
    /// </summary>
    public static IApplicationBuilder UseClusteredSession(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (app.ApplicationServices.GetService<IServiceProviderIsService>()?.IsService(typeof(ClusterNode)) != true)
            throw new InvalidOperationException("Call services.AddClusteredSession() before app.UseClusteredSession().");
        return app.UseMiddleware<ClusteredSessionMiddleware>();
    }
}
