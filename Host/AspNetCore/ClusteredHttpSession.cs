using System.Diagnostics.CodeAnalysis;
using Microsoft.AspNetCore.Http;
using Multicast.Sessions;

namespace Multicast.AspNetCore;

/// <summary>
/// <c>HttpContext.Session</c> over the cluster's <see cref="Session"/>. The middleware loads (and, for exclusive
/// access, locks) the session before the endpoint runs, so <see cref="LoadAsync"/> has nothing left to do.
/// A request without a session that writes gets a new one; its changes are kept here until the commit creates it.
/// </summary>
internal sealed class ClusteredHttpSession : ISession
{
    private readonly SessionManager _manager;
    private readonly SessionAccess _access;
    private Dictionary<string, byte[]>? _pending;

    public ClusteredHttpSession(SessionManager manager, SessionAccess access, Session? session)
    {
        _manager = manager;
        _access = access;
        Current = session;
    }

    /// <summary>The loaded or created session; null until a write creates one.</summary>
    public Session? Current { get; private set; }

    /// <summary>Set by <see cref="CommitAsync"/> or the middleware: the lock is gone, further writes are refused.</summary>
    public bool Completed { get; private set; }

    public bool Invalidated { get; private set; }

    /// <summary>Whether the request moved the session to a new id (the answer must carry the new cookie).</summary>
    public bool Regenerated { get; private set; }

    /// <summary>Whether this request created the session (the cookie must be sent).</summary>
    public bool Created { get; private set; }

    public bool HasWork => Current is not null || _pending is not null;

    public bool IsAvailable => _access != SessionAccess.None && !Invalidated;

    /// <summary>The node's <see cref="SessionOptions.MaxSessionBytes"/>: typed values are measured against it.</summary>
    internal int MaxSessionBytes => _manager.Options.MaxSessionBytes;

    /// <summary>The session id. Reading it on a request without a session creates one (as ASP.NET Core's session
    /// always has an id), which locks it like any new session.</summary>
    public string Id
    {
        get
        {
            if (Current is null && _access == SessionAccess.Exclusive && !Completed)
            {
                // ISession.Id is synchronous; creating a session is local to this node (no network), so this does not block on peers.
                CreateAsync(CancellationToken.None).GetAwaiter().GetResult();
            }
            return Current?.Id ?? string.Empty;
        }
    }

    public IEnumerable<string> Keys => Current?.Keys ?? (IEnumerable<string>?)_pending?.Keys ?? [];

    public Task LoadAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    /// <summary>Publishes the changes now and releases the lock; later writes in this request are refused.</summary>
    public async Task CommitAsync(CancellationToken cancellationToken = default)
    {
        if (Completed || _access != SessionAccess.Exclusive)
            return;
        await CommitCoreAsync(cancellationToken);
    }

    internal async Task CommitCoreAsync(CancellationToken cancellationToken)
    {
        if (Completed)
            return;
        Completed = true;
        if (Current is null && _pending is null)
            return;
        if (Current is null)
            await CreateAsync(cancellationToken);
        await _manager.EndRequestAsync(Current!, cancellationToken);
    }

    internal async Task AbortAsync(CancellationToken cancellationToken)
    {
        if (Completed)
            return;
        Completed = true;
        if (Current is not null)
            await _manager.AbortRequestAsync(Current, cancellationToken);
    }

    internal async Task InvalidateAsync(CancellationToken cancellationToken)
    {
        if (Invalidated)
            return;
        Invalidated = true;
        _pending = null;
        if (Current is not null)
        {
            if (Current.Access != SessionAccess.Exclusive)
                throw new InvalidOperationException("Invalidating a session needs exclusive access: declare the endpoint SessionAccess.Exclusive.");
            await _manager.InvalidateAsync(Current, cancellationToken);
        }
        Completed = true;
    }

    /// <summary>Moves the session to a new id cluster-wide; the request goes on with it (locked again: no client knows
    /// the new id yet), and the answer sets the new cookie. A request without a stored session has nothing to move.</summary>
    internal async Task<string> RegenerateIdAsync(CancellationToken cancellationToken)
    {
        EnsureWritable();
        if (Current is null || Created)
            return Current?.Id ?? string.Empty; // nothing stored under an id a client knows: the new session's id is fresh
        var renewed = await _manager.RegenerateIdAsync(Current, cancellationToken);
        Current = await _manager.BeginRequestAsync(renewed.Id, SessionAccess.Exclusive, cancellationToken)
            ?? throw new InvalidOperationException($"Session '{renewed.Id}' vanished right after its id was changed.");
        Created = true;
        Regenerated = true;
        return Current.Id;
    }

    public bool TryGetValue(string key, [NotNullWhen(true)] out byte[]? value)
    {
        if (Current is not null && !Invalidated)
            return Current.TryGetValue(key, out value);
        value = null;
        return _pending is not null && _pending.TryGetValue(key, out value);
    }

    public void Set(string key, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        EnsureWritable();
        if (Current is not null)
            Current.Set(key, value);
        else
            (_pending ??= new Dictionary<string, byte[]>(StringComparer.Ordinal))[key] = value;
    }

    public void Remove(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        EnsureWritable();
        if (Current is not null)
            Current.Remove(key);
        else
            _pending?.Remove(key);
    }

    public void Clear()
    {
        EnsureWritable();
        if (Current is not null)
            Current.Clear();
        else
            _pending?.Clear();
    }

    private async Task CreateAsync(CancellationToken cancellationToken)
    {
        var session = await _manager.CreateAsync(cancellationToken);
        if (_pending is not null)
        {
            foreach (var (k, v) in _pending)
                session.Set(k, v);
            _pending = null;
        }
        Current = session;
        Created = true;
    }

    private void EnsureWritable()
    {
        if (_access != SessionAccess.Exclusive)
            throw new InvalidOperationException($"The endpoint declared SessionAccess.{_access}: its session cannot be changed. Declare SessionAccess.Exclusive to write.");
        if (Invalidated)
            throw new InvalidOperationException("The session was invalidated in this request.");
        if (Completed)
            throw new InvalidOperationException("The session was already committed in this request (CommitAsync); its lock is released.");
    }
}
