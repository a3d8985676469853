using System.Globalization;
using System.Net;

namespace Multicast.Bench.SharedSession;

/// <summary>
/// Several clients share one session cookie and send <c>POST /counter</c> at once, each request to a random node:
/// one POST creates the session, then every client sends its requests one after another (the clients concurrently),
/// then every node is asked for the counter (<c>GET /counter</c>) until they agree. What a browser does with two tabs,
/// or a page that fires two requests; a store that locks the session loses none of them.
/// </summary>
internal sealed class SharedCounterRun(IReadOnlyList<Uri> nodes, string cookieName)
{
    public int Clients { get; init; } = 2;

    public int RequestsPerClient { get; init; } = 300;

    public int Seed { get; init; } = Environment.TickCount;

    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long the final read waits for the nodes to agree (replication settles).</summary>
    public TimeSpan AgreementTimeout { get; init; } = TimeSpan.FromSeconds(15);

    public async Task<SharedCounterTally> RunAsync(CancellationToken cancellationToken)
    {
        var tally = new SharedCounterTally();
        var random = new Random(Seed);
        using var setup = NewClient();
        var cookie = await CreateSessionAsync(setup, nodes[random.Next(nodes.Count)], tally, cancellationToken);
        var seeds = Enumerable.Range(0, Clients).Select(_ => random.Next()).ToArray();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.WhenAll(seeds.Select(seed => Task.Run(() => ClientAsync(cookie, new Random(seed), tally, cancellationToken), cancellationToken)));
        tally.Elapsed = clock.Elapsed;
        (tally.Final, tally.NodesDisagree) = await ReadFinalAsync(setup, cookie, cancellationToken);
        return tally;
    }

    private async Task<string> CreateSessionAsync(HttpClient http, Uri node, SharedCounterTally tally, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsync(new Uri(node, "counter"), null, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK || !long.TryParse(body, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            throw new InvalidOperationException($"{node}: the creating POST /counter answered {(int)response.StatusCode} {body}");
        var cookie = response.Headers.TryGetValues("Set-Cookie", out var cookies)
            ? cookies.Select(c => c.Split(';')[0]).FirstOrDefault(c => c.StartsWith(cookieName + "=", StringComparison.Ordinal))
            : null;
        tally.Answered(value);
        return cookie ?? throw new InvalidOperationException($"{node}: the creating POST /counter set no {cookieName} cookie");
    }

    private async Task ClientAsync(string cookie, Random random, SharedCounterTally tally, CancellationToken cancellationToken)
    {
        using var http = NewClient();
        for (var i = 0; i < RequestsPerClient; i++)
        {
            var node = nodes[random.Next(nodes.Count)];
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(node, "counter"));
            request.Headers.Add("Cookie", cookie);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(RequestTimeout);
            try
            {
                using var response = await http.SendAsync(request, timeout.Token);
                var body = await response.Content.ReadAsStringAsync(timeout.Token);
                if (response.StatusCode == HttpStatusCode.OK && long.TryParse(body, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
                    tally.Answered(value);
                else if (response.StatusCode is HttpStatusCode.Conflict || (response.StatusCode is HttpStatusCode.ServiceUnavailable && !body.Contains("could not be stored", StringComparison.Ordinal)))
                    tally.Refused(); // the lock wait timed out or the node is not ready: the endpoint did not run
                else
                    tally.NoAnswer();
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                tally.NoAnswer();
            }
        }
    }

    private async Task<(long Final, bool Disagree)> ReadFinalAsync(HttpClient http, string cookie, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(AgreementTimeout);
        var values = new List<long>();
        while (true)
        {
            values.Clear();
            foreach (var node in nodes)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(node, "counter"));
                request.Headers.Add("Cookie", cookie);
                using var response = await http.SendAsync(request, cancellationToken);
                if (response.IsSuccessStatusCode && long.TryParse(await response.Content.ReadAsStringAsync(cancellationToken), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
                    values.Add(value);
            }
            if (values.Count == nodes.Count && values.Distinct().Count() == 1)
                return (values[0], false);
            try
            {
                await Task.Delay(100, deadline.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return (values.Count == 0 ? 0 : values.Min(), true);
            }
        }
    }

    private static HttpClient NewClient() =>
        new(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(2) }) { Timeout = Timeout.InfiniteTimeSpan };
}
