using Multicast.Wire;

using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>The arbiter's view of one session's lock. Guarded by the store's gate.</summary>
internal sealed class LockState(string id)
{
    public string Id { get; } = id;
    public string? Holder { get; set; }
    public long Token { get; set; }
    public DateTimeOffset ExpiresAt { get; set; }
    /// <summary>The largest token this arbiter granted; tokens only grow.</summary>
    public long LastToken { get; set; }
    /// <summary>The view in which this node last confirmed it arbitrates the session with current state.</summary>
    public long ConfirmedInView { get; set; } = -1;
    public LinkedList<LockWaiter> Waiters { get; } = new();

    public bool IsFree => Holder is null;
}

/// <summary>A request queued for a held lock: a local one completes its task, a remote one gets a reply.</summary>
internal sealed record LockWaiter(string Node, ulong RequestId, long KnownVersion, TaskCompletionSource<LockReply>? Local);
