using Microsoft.AspNetCore.Http.Features;

namespace Multicast.AspNetCore;

/// <summary>Puts <see cref="ClusteredHttpSession"/> behind <c>HttpContext.Session</c>.</summary>
internal sealed class ClusteredSessionFeature(ClusteredHttpSession session) : ISessionFeature
{
    public ClusteredHttpSession Clustered { get; } = session;

    public Microsoft.AspNetCore.Http.ISession Session
    {
        get => Clustered;
        set => throw new NotSupportedException("The clustered session cannot be replaced.");
    }
}
