using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.AspNetCore;

/// <summary>
/// The request lifecycle of the distributed manager: find (and, for exclusive access, lock) the session
/// before the endpoint runs; commit its changes and release the lock after it, before the response leaves,
/// so that a failed commit is answered as an error rather than a success whose change was lost.
/// </summary>
internal sealed class ClusteredSessionMiddleware(
    RequestDelegate next, ClusterNode node, ClusterMetrics metrics, TimeProvider time, ILogger<ClusteredSessionMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var access = context.GetEndpoint()?.Metadata.GetMetadata<SessionAccessAttribute>()?.Access ?? node.Options.DefaultAccess;
        if (access == SessionAccess.None)
        {
            context.Features.Set<ISessionFeature>(new ClusteredSessionFeature(new ClusteredHttpSession(node.Manager, access, null)));
            await next(context);
            return;
        }

        if (!node.IsReady)
        {
            await RespondAsync(context, StatusCodes.Status503ServiceUnavailable, "This node is not ready: it is joining the cluster or leaving it.", retry: true);
            return;
        }

        context.Request.Cookies.TryGetValue(node.Options.Cookie.Name!, out var id);
        Session? session;
        var started = time.GetTimestamp();
        try
        {
            session = await node.Manager.BeginRequestAsync(id, access, context.RequestAborted);
        }
        catch (SessionLockedException ex)
        {
            metrics.LockConflict(ex.Policy.ToString());
            Log.Locked(logger, ex.SessionId, ex.Holder, ex.Policy.ToString());
            await RespondLockedAsync(context, ex);
            return;
        }
        catch (ClusterUnavailableException ex)
        {
            Log.Unavailable(logger, ex.Status.ToString(), ex.Message);
            await RespondAsync(context, StatusCodes.Status503ServiceUnavailable, ex.Message, ex.RetryAfter);
            return;
        }
        if (access == SessionAccess.Exclusive)
            metrics.LockWait(time.GetElapsedTime(started));

        var http = new ClusteredHttpSession(node.Manager, access, session);
        context.Features.Set<ISessionFeature>(new ClusteredSessionFeature(http));
        if (access == SessionAccess.ReadOnly)
        {
            await next(context);
            return;
        }

        var original = context.Features.Get<IHttpResponseBodyFeature>()
            ?? throw new InvalidOperationException("The server provides no response body feature.");
        await using var buffer = new BufferedResponseBody(original);
        context.Features.Set<IHttpResponseBodyFeature>(buffer);
        try
        {
            await next(context);
        }
        catch (Exception ex) when (ex is SessionTooLargeException or ClusterUnavailableException)
        {
            // The endpoint's write was refused before it reached the store (a typed value over MaxSessionBytes), or
            // the store could not serve a call the endpoint made: nothing is stored, the answer says why.
            context.Features.Set(original);
            await AbortAsync(http, ex);
            context.Response.Clear();
            KeepRegeneratedCookie(context, http);
            await RespondRefusedAsync(context, ex);
            return;
        }
        catch (Exception ex)
        {
            context.Features.Set(original);
            await AbortAsync(http, ex);
            throw;
        }
        context.Features.Set(original);

        if (await CommitAsync(context, http))
        {
            SetCookie(context, http);
            await buffer.CopyToInnerAsync(context.Response, context.RequestAborted);
        }
    }

    /// <summary>Commits; on failure answers 413 (session too large), 503 (the cluster cannot take the write now), 409 (the
    /// lock was lost) — each "not applied" — or 500 (the outcome is unknown), and returns false.</summary>
    private async Task<bool> CommitAsync(HttpContext context, ClusteredHttpSession http)
    {
        if (http.Invalidated || !http.HasWork)
            return true;
        var started = time.GetTimestamp();
        try
        {
            // Not the request's token: the endpoint ran, so its changes are published even if the client went away.
            await http.CommitCoreAsync(CancellationToken.None);
            metrics.Commit(time.GetElapsedTime(started));
            return true;
        }
        catch (Exception ex) when (ex is SessionTooLargeException or ClusterUnavailableException)
        {
            // Refused as a whole: nothing changed, the store released the lock.
            metrics.CommitFailure(ex.GetType().Name);
            Log.CommitRefused(logger, http.Current?.Id ?? "(new)", ex.Message);
            await ReleaseAfterFailureAsync(http);
            context.Response.Clear();
            KeepRegeneratedCookie(context, http);
            await RespondRefusedAsync(context, ex);
            return false;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            // 409: the lock was lost before the commit reached its arbiter, nothing changed. Anything else (an in-doubt
            // commit: its arbiter changed and the next could not tell) may have been applied: 500, never a 503 a client
            // would retry into a second application.
            var (status, text) = ex is LockLostException
                ? (StatusCodes.Status409Conflict, "The session change was not stored")
                : (StatusCodes.Status500InternalServerError, "The session change may or may not have been stored (read the session before retrying)");
            metrics.CommitFailure(ex.GetType().Name);
            Log.CommitFailed(logger, http.Current?.Id ?? "(new)", status, ex);
            await ReleaseAfterFailureAsync(http);
            context.Response.Clear();
            KeepRegeneratedCookie(context, http);
            await RespondAsync(context, status, $"{text}: {ex.Message}", retry: false);
            return false;
        }
    }

    private async Task AbortAsync(ClusteredHttpSession http, Exception cause)
    {
        Log.Aborted(logger, http.Current?.Id ?? "(none)", cause);
        try
        {
            await http.AbortAsync(CancellationToken.None);
        }
        catch (Exception ex)
        {
            Log.ReleaseFailed(logger, http.Current?.Id ?? "(none)", ex);
        }
    }

    private async Task ReleaseAfterFailureAsync(ClusteredHttpSession http)
    {
        // The store releases the lock on a refused commit; a timed-out one may still hold it until its lease ends.
        if (http.Current is null)
            return;
        try
        {
            await node.Manager.AbortRequestAsync(http.Current, CancellationToken.None);
        }
        catch (Exception ex)
        {
            Log.ReleaseFailed(logger, http.Current.Id, ex);
        }
    }

    /// <summary>A session moved to a new id earlier in a request that then failed lives on under the new id only: the
    /// answer must still carry it.</summary>
    private void KeepRegeneratedCookie(HttpContext context, ClusteredHttpSession http)
    {
        if (http.Regenerated)
            SetCookie(context, http);
    }

    private void SetCookie(HttpContext context, ClusteredHttpSession http)
    {
        var cookie = node.Options.Cookie;
        if (http.Invalidated)
        {
            context.Response.Cookies.Delete(cookie.Name!, cookie.Build(context));
        }
        else if (http.Created && http.Current is not null)
        {
            context.Response.Cookies.Append(cookie.Name!, http.Current.Id, cookie.Build(context));
            // A new session's cookie must not be cached by a shared proxy and handed to another client.
            context.Response.Headers.CacheControl = "no-cache,no-store";
            context.Response.Headers.Pragma = "no-cache";
        }
    }

    private Task RespondLockedAsync(HttpContext context, SessionLockedException ex)
    {
        // Redirecting to this very node would loop: the holder is a concurrent request here, so ask to retry.
        if (ex.Policy == LockConflictPolicy.Redirect && ex.Holder == node.NodeId)
            return RespondAsync(context, StatusCodes.Status503ServiceUnavailable, ex.Message, retry: true);
        if (ex.Policy == LockConflictPolicy.Redirect && ex.HolderAddress.Length > 0)
        {
            var request = context.Request;
            context.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
            context.Response.Headers.Location = ex.HolderAddress.TrimEnd('/') + request.PathBase + request.Path + request.QueryString;
            return Task.CompletedTask;
        }
        return ex.Policy == LockConflictPolicy.Wait
            ? RespondAsync(context, StatusCodes.Status503ServiceUnavailable, ex.Message, retry: true)
            : RespondAsync(context, StatusCodes.Status409Conflict, ex.Message, retry: false);
    }

    /// <summary>413 for a session over its maximum size, 503 with the store's <c>Retry-After</c> when the cluster cannot serve.</summary>
    private Task RespondRefusedAsync(HttpContext context, Exception ex) => ex is ClusterUnavailableException unavailable
        ? RespondAsync(context, StatusCodes.Status503ServiceUnavailable, $"The session change could not be stored: {ex.Message}", unavailable.RetryAfter)
        : RespondAsync(context, StatusCodes.Status413PayloadTooLarge, ex.Message, retry: false);

    private Task RespondAsync(HttpContext context, int status, string message, bool retry) =>
        RespondAsync(context, status, message, retry ? node.Options.RetryAfter : null);

    private static Task RespondAsync(HttpContext context, int status, string message, TimeSpan? retryAfter)
    {
        context.Response.StatusCode = status;
        if (retryAfter is { } after)
        {
            var seconds = Math.Max(1, (int)Math.Ceiling(after.TotalSeconds));
            context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        }
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(message + "\n");
    }
}
