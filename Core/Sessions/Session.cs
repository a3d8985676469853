using System.Diagnostics.CodeAnalysis;

namespace Multicast.Sessions;

/// <summary>
/// A session as one request sees it: the committed state it was loaded with, plus this request's
/// changes (set and removed keys), which are what the commit sends. Not thread-safe: one request uses it.
/// </summary>
/// <remarks>
/// <para>Values returned by <see cref="TryGetValue"/> are the stored arrays: do not modify them, set a new array.</para>
/// <para>A read-only session from the built-in stores is shared by the requests that read the same committed version
/// (it cannot change, so one instance serves them all and a read allocates nothing): completing it records nothing,
/// so <see cref="IsCompleted"/> stays <see langword="false"/>.</para>
/// </remarks>
public sealed class Session
{
    // Created at the first write: a read-only or untouched session carries no change sets.
    private Dictionary<string, byte[]>? _set;
    private HashSet<string>? _removed;
    private bool _cleared;
    private TimeSpan? _idleTimeout;
    private SessionChanges? _changes;
    private readonly bool _shared;

    /// <summary>Creates the request's view of a session; a store calls it from <see cref="IClusterStore.FindAsync"/>
    /// and <see cref="IClusterStore.CreateAsync"/>.</summary>
    /// <param name="state">The committed state the request starts from.</param>
    /// <param name="access">How the request uses the session; only <see cref="SessionAccess.Exclusive"/> may change it.</param>
    /// <param name="held">The lock the store granted for this request, if any.</param>
    /// <param name="isNew">Whether the request created the session.</param>
    public Session(SessionState state, SessionAccess access, SessionLock? held = null, bool isNew = false)
    {
        ArgumentNullException.ThrowIfNull(state);
        State = state;
        Access = access;
        Lock = held;
        IsNew = isNew;
    }

    private Session(SessionState state)
        : this(state, SessionAccess.ReadOnly) => _shared = true;

    /// <summary>The read-only view of <paramref name="state"/> that every request reading it may share
    /// (<see cref="SessionState.ReadOnlyFind"/> keeps one per state).</summary>
    internal static Session SharedReadOnly(SessionState state) => new(state);

    /// <summary>The session id.</summary>
    public string Id => State.Id;

    /// <summary>The committed version this request started from.</summary>
    public long Version => State.Version;

    /// <summary>When the session was created.</summary>
    public DateTimeOffset CreatedAt => State.CreatedAt;

    /// <summary>When a request last used the session, as known to this node.</summary>
    public DateTimeOffset LastAccessedAt => State.LastAccessedAt;

    /// <summary>The node that committed the last write.</summary>
    public string LastWriter => State.LastWriter;

    /// <summary>How this request uses the session.</summary>
    public SessionAccess Access { get; }

    /// <summary>Whether this request created the session.</summary>
    public bool IsNew { get; }

    /// <summary>How long the session lives without a request; setting it is a change that travels.</summary>
    public TimeSpan IdleTimeout
    {
        get => _idleTimeout ?? State.IdleTimeout;
        set
        {
            EnsureWritable();
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(value, TimeSpan.Zero);
            _idleTimeout = value;
        }
    }

    /// <summary>The keys of the session's attributes, this request's changes included.</summary>
    public IEnumerable<string> Keys
    {
        get
        {
            foreach (var key in State.Attributes.Keys)
            {
                if (!_cleared && _removed?.Contains(key) != true && _set?.ContainsKey(key) != true)
                    yield return key;
            }
            if (_set is null)
                yield break;
            foreach (var key in _set.Keys)
                yield return key;
        }
    }

    /// <summary>Whether this request changed anything.</summary>
    public bool IsChanged => _set?.Count > 0 || _removed?.Count > 0 || _idleTimeout is not null;

    /// <summary>Reads an attribute.</summary>
    public bool TryGetValue(string key, [NotNullWhen(true)] out byte[]? value)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (_set is not null && _set.TryGetValue(key, out value))
            return true;
        if (_cleared || _removed?.Contains(key) == true)
        {
            value = null;
            return false;
        }
        return State.Attributes.TryGetValue(key, out value);
    }

    /// <summary>Sets an attribute.</summary>
    /// <exception cref="InvalidOperationException">The session was loaded read-only.</exception>
    public void Set(string key, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        EnsureWritable();
        _removed?.Remove(key);
        SetChanges()[key] = value;
    }

    /// <summary>Removes an attribute.</summary>
    /// <exception cref="InvalidOperationException">The session was loaded read-only.</exception>
    public void Remove(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        EnsureWritable();
        _set?.Remove(key);
        if (!_cleared && State.Attributes.ContainsKey(key))
            RemovedKeys().Add(key);
    }

    /// <summary>Removes every attribute.</summary>
    public void Clear()
    {
        EnsureWritable();
        _set?.Clear();
        var removed = RemovedKeys();
        removed.Clear();
        foreach (var key in State.Attributes.Keys)
            removed.Add(key);
        _cleared = true;
    }

    /// <summary>The committed state this request started from (after a commit: the state it committed).</summary>
    public SessionState State { get; private set; }

    /// <summary>The lock the store granted this request, if any.</summary>
    public SessionLock? Lock { get; }

    /// <summary>What this request changed so far.</summary>
    public SessionChanges Changes => _changes ??= new SessionChanges(SetChanges(), RemovedKeys(), () => _idleTimeout);

    /// <summary>Whether the request has ended: the session was committed, released or removed (each happens once).</summary>
    public bool IsCompleted { get; private set; }

    /// <summary>Ends the request's use of the session; a store calls it first thing in a commit or release.</summary>
    /// <returns><see langword="false"/> when it had ended already.</returns>
    public bool MarkCompleted()
    {
        if (_shared)
            return true; // shared by every request that reads this version: nothing of one request is recorded on it
        if (IsCompleted)
            return false;
        IsCompleted = true;
        return true;
    }

    /// <summary>After a commit, the request's view becomes the committed state with no pending changes.</summary>
    /// <exception cref="InvalidOperationException">The session was loaded without <see cref="SessionAccess.Exclusive"/>
    /// access: it has nothing to commit (a store completes it with <see cref="MarkCompleted"/>).</exception>
    public void MarkCommitted(SessionState committed)
    {
        ArgumentNullException.ThrowIfNull(committed);
        EnsureWritable();
        IsCompleted = true;
        State = committed;
        _set?.Clear();
        _removed?.Clear();
        _cleared = false;
        _idleTimeout = null;
    }

    private Dictionary<string, byte[]> SetChanges() => _set ??= new Dictionary<string, byte[]>(StringComparer.Ordinal);

    private HashSet<string> RemovedKeys() => _removed ??= new HashSet<string>(StringComparer.Ordinal);

    private void EnsureWritable()
    {
        if (Access != SessionAccess.Exclusive)
            throw new InvalidOperationException($"Session '{Id}' was loaded with {Access} access and cannot be changed.");
    }
}
