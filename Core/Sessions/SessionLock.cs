namespace Multicast.Sessions;

/// <summary>A granted session lock: who holds it, its fencing token and its lease.</summary>
/// <param name="SessionId">The locked session.</param>
/// <param name="Holder">The node id of the holder.</param>
/// <param name="Token">The fencing token: larger than every token granted before for this session.</param>
/// <param name="ExpiresAt">The end of the lease; after it the store may grant the lock to another holder.</param>
/// <param name="Version">The committed version the store knew when it granted the lock; the holder reads at least this version.</param>
public sealed record SessionLock(string SessionId, string Holder, long Token, DateTimeOffset ExpiresAt, long Version);
