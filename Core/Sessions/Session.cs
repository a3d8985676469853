using System.Diagnostics.CodeAnalysis;

namespace Multicast.Sessions;

/// <summary>
/// A session as one request sees it: the committed state it was loaded with, plus this request's
/// changes (set and removed keys), which are what the commit sends. Not thread-safe: one request uses it.
/// </summary>
/// <remarks>Values returned by <see cref="TryGetValue"/> are the stored arrays: do not modify them, set a new array.</remarks>
public sealed class Session
{
    private readonly Dictionary<string, byte[]> _set = new(StringComparer.Ordinal);
    private readonly HashSet<string> _removed = new(StringComparer.Ordinal);
    private bool _cleared;
    private TimeSpan? _idleTimeout;
    private SessionChanges? _changes;

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
                if (!_cleared && !_removed.Contains(key) && !_set.ContainsKey(key))
                    yield return key;
            }
            foreach (var key in _set.Keys)
                yield return key;
        }
    }

    /// <summary>Whether this request changed anything.</summary>
    public bool IsChanged => _set.Count > 0 || _removed.Count > 0 || _idleTimeout is not null;

    /// <summary>Reads an attribute.</summary>
    public bool TryGetValue(string key, [NotNullWhen(true)] out byte[]? value)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (_set.TryGetValue(key, out value))
            return true;
        if (_cleared || _removed.Contains(key))
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
        _removed.Remove(key);
        _set[key] = value;
    }

    /// <summary>Removes an attribute.</summary>
    /// <exception cref="InvalidOperationException">The session was loaded read-only.</exception>
    public void Remove(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        EnsureWritable();
        _set.Remove(key);
        if (!_cleared && State.Attributes.ContainsKey(key))
            _removed.Add(key);
    }

    /// <summary>Removes every attribute.</summary>
    public void Clear()
    {
        EnsureWritable();
        _set.Clear();
        _removed.Clear();
        foreach (var key in State.Attributes.Keys)
            _removed.Add(key);
        _cleared = true;
    }

    /// <summary>The committed state this request started from (after a commit: the state it committed).</summary>
    public SessionState State { get; private set; }

    /// <summary>The lock the store granted this request, if any.</summary>
    public SessionLock? Lock { get; }

    /// <summary>What this request changed so far.</summary>
    public SessionChanges Changes => _changes ??= new SessionChanges(_set, _removed, () => _idleTimeout);

    /// <summary>Whether the request has ended: the session was committed, released or removed (each happens once).</summary>
    public bool IsCompleted { get; private set; }

    /// <summary>Ends the request's use of the session; a store calls it first thing in a commit or release.</summary>
    /// <returns><see langword="false"/> when it had ended already.</returns>
    public bool MarkCompleted()
    {
        if (IsCompleted)
            return false;
        IsCompleted = true;
        return true;
    }

    /// <summary>After a commit, the request's view becomes the committed state with no pending changes.</summary>
    public void MarkCommitted(SessionState committed)
    {
        ArgumentNullException.ThrowIfNull(committed);
        IsCompleted = true;
        State = committed;
        _set.Clear();
        _removed.Clear();
        _cleared = false;
        _idleTimeout = null;
    }

    private void EnsureWritable()
    {
        if (Access != SessionAccess.Exclusive)
            throw new InvalidOperationException($"Session '{Id}' was loaded with {Access} access and cannot be changed.");
    }
}
