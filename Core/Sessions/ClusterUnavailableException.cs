namespace Multicast.Sessions;

/// <summary>
/// The store cannot serve the request now and did not apply anything: this node is in a minority partition (no
/// quorum), is joining or catching up, or is leaving. Retrying later, or on another node, is safe.
/// </summary>
public sealed class ClusterUnavailableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ClusterUnavailableException(ClusterStoreStatus status, string message, TimeSpan retryAfter)
        : base(message)
    {
        Status = status;
        RetryAfter = retryAfter;
    }

    /// <summary>Creates the exception.</summary>
    public ClusterUnavailableException() : this(ClusterStoreStatus.Joining, "The cluster store cannot serve now.", TimeSpan.FromSeconds(1)) { }

    /// <summary>Creates the exception.</summary>
    public ClusterUnavailableException(string message) : this(ClusterStoreStatus.Joining, message, TimeSpan.FromSeconds(1)) { }

    /// <summary>Creates the exception.</summary>
    public ClusterUnavailableException(string message, Exception innerException) : base(message, innerException)
    {
        Status = ClusterStoreStatus.Joining;
        RetryAfter = TimeSpan.FromSeconds(1);
    }

    /// <summary>Why: the store's status when it refused.</summary>
    public ClusterStoreStatus Status { get; }

    /// <summary>A hint for the caller (an HTTP <c>Retry-After</c>).</summary>
    public TimeSpan RetryAfter { get; }
}
