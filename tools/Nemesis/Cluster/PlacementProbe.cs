using System.Collections.Concurrent;
using System.Reflection;
using Multicast.Sessions;

namespace Multicast.Nemesis.Cluster;

/// <summary>
/// Which nodes must hold a session, for the ring's convergence check. The public store contract does not say; the
/// built-in stores answer it with an internal <c>MustHold(string id)</c>, read here without changing anything. When a
/// store has no such method the probe answers null and the checker falls back to comparing whatever copies exist.
/// </summary>
internal static class PlacementProbe
{
    private static readonly ConcurrentDictionary<Type, MethodInfo?> Methods = new();

    /// <summary>Whether <paramref name="store"/> must hold session <paramref name="id"/> in its current view, or null when
    /// the store cannot say.</summary>
    public static bool? MustHold(IClusterStore store, string id)
    {
        ArgumentNullException.ThrowIfNull(store);
        var method = Methods.GetOrAdd(store.GetType(), static t =>
        {
            for (var type = t; type is not null; type = type.BaseType)
            {
                var m = type.GetMethod("MustHold", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, [typeof(string)]);
                if (m is not null && m.ReturnType == typeof(bool))
                    return m;
            }
            return null;
        });
        return method is null ? null : (bool)method.Invoke(store, [id])!;
    }
}
