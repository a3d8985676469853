using Multicast.Sessions;

namespace Multicast.Bench.SessionCost;

/// <summary>A request on one node of the replicated cluster, through the <see cref="SessionManager"/> exactly as the ASP.NET Core middleware drives it.</summary>
internal sealed class ClusterBackend(string name, SessionManager creator, SessionManager server) : ISessionBackend
{
    private long _beginTicks, _endTicks, _requests;

    public string Name => name;

    /// <summary>Mean time in find + lock (BeginRequestAsync) and in commit + unlock (EndRequestAsync) since the last reset, in microseconds.</summary>
    public (double BeginUs, double EndUs) Breakdown =>
        _requests == 0 ? (double.NaN, double.NaN) : (Us(_beginTicks) / _requests, Us(_endTicks) / _requests);

    public void ResetBreakdown() => _beginTicks = _endTicks = _requests = 0;

    private static double Us(long ticks) => ticks * 1e6 / System.Diagnostics.Stopwatch.Frequency;

    public async Task<string> CreateAsync(byte[] payload, CancellationToken cancellationToken)
    {
        var session = await creator.CreateAsync(cancellationToken);
        session.Set("data", payload);
        session.SetInt32("count", 0);
        await creator.EndRequestAsync(session, cancellationToken);
        return session.Id;
    }

    public async Task<int> IncrementAsync(string id, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var session = await server.BeginRequestAsync(id, SessionAccess.Exclusive, cancellationToken) ?? throw new InvalidOperationException($"no session {id} on {server.Store.InstanceId}");
        var locked = System.Diagnostics.Stopwatch.GetTimestamp();
        var next = (session.GetInt32("count") ?? 0) + 1;
        session.SetInt32("count", next);
        await server.EndRequestAsync(session, cancellationToken);
        _endTicks += System.Diagnostics.Stopwatch.GetTimestamp() - locked;
        _beginTicks += locked - started;
        _requests++;
        return next;
    }

    public async Task<int> ReadAsync(string id, CancellationToken cancellationToken)
    {
        var session = await server.BeginRequestAsync(id, SessionAccess.ReadOnly, cancellationToken) ?? throw new InvalidOperationException($"no session {id} on {server.Store.InstanceId}");
        // No lock was taken, so there is nothing to end (the middleware does the same).
        return session.GetInt32("count") ?? 0;
    }
}
