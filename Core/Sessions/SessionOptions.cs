using System.ComponentModel.DataAnnotations;

namespace Multicast.Sessions;

/// <summary>Session behaviour shared by every node of a cluster.</summary>
public sealed class SessionOptions
{
    /// <summary>The default idle timeout: 20 minutes, as ASP.NET Core's session.</summary>
    public static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromMinutes(20);

    /// <summary>The default maximum serialized session size: 1 MiB.</summary>
    public const int DefaultMaxSessionBytes = 1024 * 1024;

    /// <summary>How long a session lives without a request.</summary>
    /// <value>The default value is 20 minutes.</value>
    public TimeSpan IdleTimeout { get; set; } = DefaultIdleTimeout;

    /// <summary>The largest a session may grow (keys plus values, in bytes); a larger commit throws <see cref="SessionTooLargeException"/>.</summary>
    /// <value>The default value is 1 MiB.</value>
    [Range(1, 64 * 1024 * 1024)]
    public int MaxSessionBytes { get; set; } = DefaultMaxSessionBytes;

    /// <summary>Publish the session at the end of every exclusive request even when nothing changed (Resin's always-save).</summary>
    /// <value>The default value is <see langword="false"/>.</value>
    public bool AlwaysSave { get; set; }

    /// <summary>How often the expiry sweeper runs.</summary>
    /// <value>The default value is 10 seconds.</value>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Last-access times are not sent per read: a node announces a touched session at most once per
    /// this window. Defaults to a quarter of <see cref="IdleTimeout"/> when zero.
    /// </summary>
    /// <value>The default value is <see cref="TimeSpan.Zero"/> (idle timeout / 4).</value>
    public TimeSpan AccessWindow { get; set; } = TimeSpan.Zero;

    internal TimeSpan EffectiveAccessWindow => AccessWindow > TimeSpan.Zero ? AccessWindow : IdleTimeout / 4;

    /// <summary>Throws a clear error naming the setting to fix.</summary>
    public void Validate()
    {
        if (IdleTimeout <= TimeSpan.Zero)
            throw new OptionsValidationError("Session:IdleTimeout", "must be positive");
        if (MaxSessionBytes <= 0)
            throw new OptionsValidationError("Session:MaxSessionBytes", "must be positive");
        if (SweepInterval <= TimeSpan.Zero)
            throw new OptionsValidationError("Session:SweepInterval", "must be positive");
    }
}
