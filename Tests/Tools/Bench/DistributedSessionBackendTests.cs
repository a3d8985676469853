using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Session;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Multicast.Bench.SessionCost;

namespace Multicast.Tests.Tools.Bench;

/// <summary>The Redis variant's request shapes: the cache calls ASP.NET Core's session makes, and its missing lock.</summary>
public sealed class DistributedSessionBackendTests
{
    private static CallCountingCache NewCache() => new(new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions())));

    [Test]
    public async Task IncrementAsync_OneWrite_LoadsWithGetAndCommitsWithSet()
    {
        var cache = NewCache();
        var sut = new DistributedSessionBackend("memory", cache);
        var id = await sut.CreateAsync(new byte[16], CancellationToken.None);
        cache.Reset();

        var value = await sut.IncrementAsync(id, CancellationToken.None);

        Assert.That(value, Is.EqualTo(1));
        Assert.That((cache.Gets, cache.Sets, cache.Refreshes), Is.EqualTo((1L, 1L, 0L)));
    }

    [Test]
    public async Task ReadAsync_OneRead_LoadsWithGetAndCommitsWithRefresh()
    {
        var cache = NewCache();
        var sut = new DistributedSessionBackend("memory", cache);
        var id = await sut.CreateAsync(new byte[16], CancellationToken.None);
        await sut.IncrementAsync(id, CancellationToken.None);
        cache.Reset();

        var value = await sut.ReadAsync(id, CancellationToken.None);

        Assert.That(value, Is.EqualTo(1));
        Assert.That((cache.Gets, cache.Sets, cache.Refreshes), Is.EqualTo((1L, 0L, 1L)));
    }

    [Test]
    public async Task DistributedSession_TwoRequestsInterleaved_LastWriterWins()
    {
        // What the lost-updates scenario measures over HTTP, shown without timing: two requests load the same
        // state, both commit an increment, one increment is gone.
        var cache = NewCache();
        var backend = new DistributedSessionBackend("memory", cache);
        var id = await backend.CreateAsync(new byte[16], CancellationToken.None);
        var first = Open(cache, id);
        var second = Open(cache, id);
        await first.LoadAsync();
        await second.LoadAsync();

        first.SetInt32("count", first.GetInt32("count")!.Value + 1);
        second.SetInt32("count", second.GetInt32("count")!.Value + 1);
        await first.CommitAsync();
        await second.CommitAsync();

        Assert.That(await backend.ReadAsync(id, CancellationToken.None), Is.EqualTo(1), "two acknowledged increments, one left");
    }

    private static DistributedSession Open(IDistributedCache cache, string id) =>
        new(cache, id, DistributedSessionBackend.IdleTimeout, DistributedSessionBackend.IoTimeout, () => true, NullLoggerFactory.Instance, isNewSessionKey: false);
}
