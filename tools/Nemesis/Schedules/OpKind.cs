namespace Multicast.Nemesis.Schedules;

/// <summary>What a client does in one step. Every write records its op id in the session (key <c>op</c>), so a later
/// read can name the write it sees.</summary>
internal enum OpKind
{
    /// <summary>Creates a new session in the slot: <c>count</c> = 1.</summary>
    Create,

    /// <summary>Exclusive request: <c>count</c> + 1 (Pessimistic locking only).</summary>
    Increment,

    /// <summary>Read-only request: reads <c>count</c> (or the written keys, with <c>Locking=None</c>).</summary>
    Read,

    /// <summary>Exclusive request that increments and also sets an attribute larger than the session limit: it must be
    /// refused with <see cref="Sessions.SessionTooLargeException"/> and change nothing.</summary>
    Oversize,

    /// <summary>Exclusive request that invalidates the session.</summary>
    Invalidate,

    /// <summary><c>Locking=None</c>: sets a key of its own (<c>w{op id}</c>); concurrent writes merge per attribute.</summary>
    Write,

    /// <summary>After healing: one increment (or write) per live session, which must succeed.</summary>
    Probe,
}
