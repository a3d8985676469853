using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Session;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging.Abstractions;

namespace Multicast.Bench.SessionCost;

/// <summary>
/// ASP.NET Core's own session (<see cref="DistributedSession"/>, what <c>AddSession</c> creates per request) over an
/// <see cref="IDistributedCache"/> — in the benchmark the real <c>RedisCache</c> of <c>AddStackExchangeRedisCache</c>.
/// A request is what <c>SessionMiddleware</c> and an app that follows the docs do: <c>LoadAsync</c> (the cache's
/// <c>GetAsync</c>), the endpoint, <c>CommitAsync</c> (<c>SetAsync</c> when the session changed, else <c>RefreshAsync</c>).
/// No lock anywhere: two concurrent writes of one session both succeed and the last one wins.
/// </summary>
internal sealed class DistributedSessionBackend(string name, IDistributedCache cache) : ISessionBackend
{
    /// <summary>AddSession's default idle timeout; every Set and Refresh slides the entry's expiry by it.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(20);

    /// <summary>AddSession's default I/O timeout for loading and committing.</summary>
    public static readonly TimeSpan IoTimeout = TimeSpan.FromMinutes(1);

    private const string CountKey = "count";

    public string Name => name;

    public async Task<string> CreateAsync(byte[] payload, CancellationToken cancellationToken)
    {
        // SessionMiddleware's key: 16 random bytes as a GUID string; the cookie carries it data-protected.
        var key = Guid.NewGuid().ToString();
        var session = Open(key, isNew: true);
        session.Set("data", payload);
        session.SetInt32(CountKey, 0);
        await session.CommitAsync(cancellationToken);
        return key;
    }

    public async Task<int> IncrementAsync(string id, CancellationToken cancellationToken)
    {
        var session = Open(id, isNew: false);
        await session.LoadAsync(cancellationToken);
        var next = (session.GetInt32(CountKey) ?? throw new InvalidOperationException($"no session {id}")) + 1;
        session.SetInt32(CountKey, next);
        await session.CommitAsync(cancellationToken);
        return next;
    }

    public async Task<int> ReadAsync(string id, CancellationToken cancellationToken)
    {
        var session = Open(id, isNew: false);
        await session.LoadAsync(cancellationToken);
        var count = session.GetInt32(CountKey) ?? throw new InvalidOperationException($"no session {id}");
        await session.CommitAsync(cancellationToken);
        return count;
    }

    // The logger factory decides one cache call: at Information, CommitAsync of a change first does a GetAsync to
    // log "session started" when the entry is absent. Apps run sessions at Warning (as here and in the http apps).
    private DistributedSession Open(string key, bool isNew) =>
        new(cache, key, IdleTimeout, IoTimeout, static () => true, NullLoggerFactory.Instance, isNew);
}
