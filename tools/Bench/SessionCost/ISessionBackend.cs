namespace Multicast.Bench.SessionCost;

/// <summary>One way to keep sessions, driven by the same request shapes so the costs compare.</summary>
internal interface ISessionBackend
{
    string Name { get; }

    /// <summary>Creates a session holding a counter and a 1 KiB attribute; returns its id.</summary>
    Task<string> CreateAsync(byte[] payload, CancellationToken cancellationToken);

    /// <summary>One write request: find the session, lock it, increment the counter, commit, unlock.</summary>
    Task<int> IncrementAsync(string id, CancellationToken cancellationToken);

    /// <summary>One read-only request: the latest committed counter, no lock.</summary>
    Task<int> ReadAsync(string id, CancellationToken cancellationToken);
}
