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

    internal Session(SessionRecord record, SessionAccess access, SessionLock? held, bool isNew)
    {
        Record = record;
        Access = access;
        Lock = held;
        IsNew = isNew;
    }

    /// <summary>The session id.</summary>
    public string Id => Record.Id;

    /// <summary>The committed version this request started from.</summary>
    public long Version => Record.Version;

    /// <summary>When the session was created.</summary>
    public DateTimeOffset CreatedAt => Record.CreatedAt;

    /// <summary>When a request last used the session, as known to this node.</summary>
    public DateTimeOffset LastAccessedAt => Record.LastAccessedAt;

    /// <summary>The node that committed the last write.</summary>
    public string LastWriter => Record.LastWriter;

    /// <summary>How this request uses the session.</summary>
    public SessionAccess Access { get; }

    /// <summary>Whether this request created the session.</summary>
    public bool IsNew { get; }

    /// <summary>How long the session lives without a request; setting it is a change that travels.</summary>
    public TimeSpan IdleTimeout
    {
        get => _idleTimeout ?? Record.IdleTimeout;
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
            foreach (var key in Record.Attributes.Keys)
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
        return Record.Attributes.TryGetValue(key, out value);
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
        if (!_cleared && Record.Attributes.ContainsKey(key))
            _removed.Add(key);
    }

    /// <summary>Removes every attribute.</summary>
    public void Clear()
    {
        EnsureWritable();
        _set.Clear();
        _removed.Clear();
        foreach (var key in Record.Attributes.Keys)
            _removed.Add(key);
        _cleared = true;
    }

    internal SessionRecord Record { get; private set; }

    internal SessionLock? Lock { get; set; }

    internal IReadOnlyDictionary<string, byte[]> SetKeys => _set;

    internal IReadOnlyCollection<string> RemovedKeys => _removed;

    internal TimeSpan? ChangedIdleTimeout => _idleTimeout;

    /// <summary>Set once the request has ended; a session is committed or released once.</summary>
    internal bool Completed { get; set; }

    /// <summary>After a commit, the request's view becomes the committed record with no pending changes.</summary>
    internal void Committed(SessionRecord record)
    {
        Record = record;
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
