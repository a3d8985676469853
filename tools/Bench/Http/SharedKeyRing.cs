using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection;

namespace Multicast.Bench.Http;

/// <summary>
/// One ASP.NET Core Data Protection key ring for every process of a farm (a directory all of them read), so a session
/// cookie protected by one process is read by any other — what a farm behind a non-sticky load balancer needs.
/// </summary>
internal static class SharedKeyRing
{
    public const string ApplicationName = "multicast-bench";

    /// <summary>
    /// Creates the ring's first key in <paramref name="directory"/> before any app starts: processes started together
    /// on an empty directory would each create a key of their own and reject each other's cookies until they reload.
    /// </summary>
    public static void Create(string directory)
    {
        var provider = DataProtectionProvider.Create(new DirectoryInfo(directory), b => b.SetApplicationName(ApplicationName));
        provider.CreateProtector("warm-up").Protect([1]);
    }

    /// <summary>The app's Data Protection: keys from <paramref name="directory"/>, the farm's application name.</summary>
    public static void Use(IServiceCollection services, string directory) =>
        services.AddDataProtection().PersistKeysToFileSystem(new DirectoryInfo(directory)).SetApplicationName(ApplicationName);
}
