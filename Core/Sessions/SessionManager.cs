using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Multicast.Sessions;

/// <summary>
/// The distributed session manager: holds this node's session table and runs the request lifecycle
/// (begin: find + lock through the store; end: publish the changes + unlock), creation, invalidation
/// and expiry. Subclass it to observe or adjust the lifecycle: every step is virtual.
/// </summary>
public class SessionManager : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task? _sweeper;
    private int _disposed;

    /// <summary>Creates a manager over <paramref name="store"/>.</summary>
    public SessionManager(IClusterStore store, SessionOptions options, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Store = store;
        Options = options;
        Time = time ?? TimeProvider.System;
        Logger = logger ?? NullLogger.Instance;
    }

    /// <summary>The cluster store this manager delegates to.</summary>
    public IClusterStore Store { get; }

    /// <summary>The session options.</summary>
    public SessionOptions Options { get; }

    /// <summary>The clock for access times and expiry.</summary>
    public TimeProvider Time { get; }

    /// <summary>The logger.</summary>
    protected ILogger Logger { get; }

    /// <summary>How many sessions this node holds.</summary>
    public int Count => Table.Count;

    /// <summary>The committed sessions this node holds, by id; written by the store, read by anyone.</summary>
    public SessionTable Table { get; } = new();

    /// <summary>A session was created on this node.</summary>
    public event EventHandler<SessionEventArgs>? Created;

    /// <summary>A request on this node committed a change.</summary>
    public event EventHandler<SessionEventArgs>? Changed;

    /// <summary>An update from another node was applied (raised on the receive thread: do not block).</summary>
    public event EventHandler<SessionEventArgs>? Received;

    /// <summary>A session expired.</summary>
    public event EventHandler<SessionEventArgs>? Expired;

    /// <summary>A session was invalidated.</summary>
    public event EventHandler<SessionEventArgs>? Invalidated;

    /// <summary>Joins the cluster through the store and starts the expiry sweeper.</summary>
    public virtual async Task StartAsync(CancellationToken cancellationToken = default)
    {
        var context = new SessionStoreContext(Table, Options, Time, OnReceived, (e, reason) =>
        {
            if (reason == SessionRemovalReason.Expired)
                OnExpired(e);
            else
                OnInvalidated(e);
        });
        await Store.StartAsync(context, cancellationToken);
        _sweeper = SweepLoopAsync(_stopping.Token);
    }

    /// <summary>Stops the sweeper and leaves the cluster gracefully.</summary>
    public virtual async Task StopAsync(CancellationToken cancellationToken = default)
    {
        await _stopping.CancelAsync();
        if (_sweeper is not null)
            await _sweeper;
        await Store.StopAsync(cancellationToken);
    }

    /// <summary>Creates a session, locked exclusively for the calling request.</summary>
    public virtual async Task<Session> CreateAsync(CancellationToken cancellationToken = default)
    {
        var session = await Store.CreateAsync(cancellationToken);
        OnCreated(new SessionEventArgs(session.Id, session.Version, Store.InstanceId));
        return session;
    }

    /// <summary>
    /// Begins a request: finds the session and locks it as <paramref name="access"/> asks. Returns
    /// <see langword="null"/> for <see cref="SessionAccess.None"/>, for a malformed id and for an unknown or expired session.
    /// </summary>
    public virtual Task<Session?> BeginRequestAsync(string? id, SessionAccess access, CancellationToken cancellationToken = default)
    {
        if (access == SessionAccess.None || !SessionIds.TryParseOwner(id, out _))
            return Task.FromResult<Session?>(null);
        return Store.FindAsync(id!, access, cancellationToken);
    }

    /// <summary>Ends a request: publishes the session's changes (or releases the lock when nothing changed).</summary>
    public virtual async Task EndRequestAsync(Session session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        var changed = session.IsChanged || session.IsNew;
        await Store.CommitAsync(session, cancellationToken);
        if (changed)
            OnChanged(new SessionEventArgs(session.Id, session.Version, Store.InstanceId));
    }

    /// <summary>Ends a failed request: releases the lock and discards the changes.</summary>
    public virtual Task AbortRequestAsync(Session session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        return Store.ReleaseAsync(session, cancellationToken);
    }

    /// <summary>Invalidates a session everywhere. The session's lock, if held by the request, ends with it.</summary>
    public virtual async Task InvalidateAsync(Session session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        session.MarkCompleted();
        if (await Store.RemoveAsync(session.Id, SessionRemovalReason.Invalidated, cancellationToken))
            OnInvalidated(new SessionEventArgs(session.Id, session.Version, Store.InstanceId));
    }

    /// <summary>
    /// Moves a session to a new id, cluster-wide (the defence against session fixation, as the servlet API's
    /// <c>changeSessionId</c>): creates a session, copies the attributes and idle timeout (this request's changes
    /// included), commits it, then removes the old id while the request still holds the old session's lock, so no other
    /// request sees the session under both ids or under neither. Afterwards the old id finds nothing.
    /// </summary>
    /// <param name="session">The request's session, loaded with <see cref="SessionAccess.Exclusive"/> and not completed.</param>
    /// <param name="cancellationToken">Cancels the move.</param>
    /// <returns>The session under its new id, committed and unlocked; <paramref name="session"/> is completed.</returns>
    /// <exception cref="InvalidOperationException"><paramref name="session"/> is not exclusive, or its request has ended.</exception>
    /// <exception cref="SessionTooLargeException">The copy would exceed the maximum size; nothing changed.</exception>
    /// <exception cref="ClusterUnavailableException">The cluster cannot take the write now; the session keeps its old id.</exception>
    public virtual async Task<Session> RegenerateIdAsync(Session session, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session.Access != SessionAccess.Exclusive || session.IsCompleted)
            throw new InvalidOperationException($"Session '{session.Id}' must be held exclusively by the request to change its id.");
        var renewed = await CreateAsync(cancellationToken);
        foreach (var key in session.Keys)
        {
            if (session.TryGetValue(key, out var value))
                renewed.Set(key, value);
        }
        renewed.IdleTimeout = session.IdleTimeout;
        await EndRequestAsync(renewed, cancellationToken);
        try
        {
            await Store.RemoveAsync(session.Id, SessionRemovalReason.Invalidated, cancellationToken);
        }
        catch (Exception ex)
        {
            // The old id stays (still locked by the request): take the copy back out, so the session lives under one id.
            Logger.LogWarning(ex, "Session {SessionId} keeps its id: the old id could not be removed", session.Id);
            await Store.RemoveAsync(renewed.Id, SessionRemovalReason.Invalidated, CancellationToken.None);
            throw;
        }
        session.MarkCompleted();
        OnInvalidated(new SessionEventArgs(session.Id, session.Version, Store.InstanceId));
        return renewed;
    }

    /// <summary>Expires, cluster-wide, the idle sessions this node acts as owner for. Runs on the sweeper; callable directly.</summary>
    /// <returns>How many sessions this node expired.</returns>
    public virtual async Task<int> SweepAsync(CancellationToken cancellationToken = default)
    {
        var now = Time.GetUtcNow();
        var expired = 0;
        foreach (var state in Table)
        {
            if (state.IsExpired(now) && await Store.RemoveAsync(state.Id, SessionRemovalReason.Expired, cancellationToken))
                expired++;
        }
        return expired;
    }

    /// <summary>Raises <see cref="Created"/>.</summary>
    protected virtual void OnCreated(SessionEventArgs e) => Created?.Invoke(this, e);

    /// <summary>Raises <see cref="Changed"/>.</summary>
    protected virtual void OnChanged(SessionEventArgs e) => Changed?.Invoke(this, e);

    /// <summary>Raises <see cref="Received"/>, on the receive thread.</summary>
    protected virtual void OnReceived(SessionEventArgs e) => Received?.Invoke(this, e);

    /// <summary>Raises <see cref="Expired"/>.</summary>
    protected virtual void OnExpired(SessionEventArgs e) => Expired?.Invoke(this, e);

    /// <summary>Raises <see cref="Invalidated"/>.</summary>
    protected virtual void OnInvalidated(SessionEventArgs e) => Invalidated?.Invoke(this, e);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stopping.CancelAsync();
        if (_sweeper is not null)
            await _sweeper;
        await Store.DisposeAsync();
        _stopping.Dispose();
        GC.SuppressFinalize(this);
    }

    private async Task SweepLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Options.SweepInterval, Time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await SweepAsync(cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Logger.LogWarning(ex, "Expiry sweep failed; retrying at the next interval");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
