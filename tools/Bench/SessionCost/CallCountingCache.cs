using Microsoft.Extensions.Caching.Distributed;

namespace Multicast.Bench.SessionCost;

/// <summary>
/// An <see cref="IDistributedCache"/> that counts the calls made to the cache it wraps, so the Redis variant can say
/// what each request asked of the cache (ASP.NET Core's <c>DistributedSession</c>: load = Get, commit of a change =
/// Set, commit of an untouched session = Refresh).
/// </summary>
internal sealed class CallCountingCache(IDistributedCache inner) : IDistributedCache
{
    private long _gets, _sets, _refreshes, _removes;

    public long Gets => Interlocked.Read(ref _gets);

    public long Sets => Interlocked.Read(ref _sets);

    public long Refreshes => Interlocked.Read(ref _refreshes);

    public long Removes => Interlocked.Read(ref _removes);

    public void Reset() => _gets = _sets = _refreshes = _removes = 0;

    public byte[]? Get(string key)
    {
        Interlocked.Increment(ref _gets);
        return inner.Get(key);
    }

    public Task<byte[]?> GetAsync(string key, CancellationToken token = default)
    {
        Interlocked.Increment(ref _gets);
        return inner.GetAsync(key, token);
    }

    public void Set(string key, byte[] value, DistributedCacheEntryOptions options)
    {
        Interlocked.Increment(ref _sets);
        inner.Set(key, value, options);
    }

    public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        Interlocked.Increment(ref _sets);
        return inner.SetAsync(key, value, options, token);
    }

    public void Refresh(string key)
    {
        Interlocked.Increment(ref _refreshes);
        inner.Refresh(key);
    }

    public Task RefreshAsync(string key, CancellationToken token = default)
    {
        Interlocked.Increment(ref _refreshes);
        return inner.RefreshAsync(key, token);
    }

    public void Remove(string key)
    {
        Interlocked.Increment(ref _removes);
        inner.Remove(key);
    }

    public Task RemoveAsync(string key, CancellationToken token = default)
    {
        Interlocked.Increment(ref _removes);
        return inner.RemoveAsync(key, token);
    }
}
