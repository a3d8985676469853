using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Multicast.LoadCheck;

/// <summary>
/// Drives the counter endpoint from many clients against random nodes and checks that no acknowledged
/// increment is lost. The check per session, with A acknowledged increments and U requests of unknown outcome
/// (sent, but answered by neither 200 nor a refusal that proves the endpoint did not run):
/// A &lt;= final &lt;= A + U, every node reporting the same final value; and every 200 answer v after the
/// previous one p satisfies p + 1 &lt;= v &lt;= p + 1 + (unknown outcomes in between).
/// </summary>
internal sealed class LoadCheckRun
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _failures = new(StringComparer.Ordinal);
    private readonly TextWriter _out;
    private readonly TextWriter _error;
    private long _acked, _unknown, _refused, _rejected, _violations, _reads, _answers5xx, _answers503, _slowestTicks;

    private LoadCheckRun(TextWriter output, TextWriter error)
    {
        _out = output;
        _error = error;
    }

    /// <summary>Runs the check; returns the exit code (0 pass, 1 a violation, 2 usage).</summary>
    public static Task<int> MainAsync(string[] args, TextWriter? output = null, TextWriter? error = null) =>
        new LoadCheckRun(output ?? Console.Out, error ?? Console.Error).RunAsync(args);

    private async Task<int> RunAsync(string[] args)
    {
        LoadCheckOptions options;
        try
        {
            options = LoadCheckOptions.Parse(args);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or UriFormatException)
        {
            _error.WriteLine($"LoadCheck: {ex.Message}");
            _error.WriteLine(LoadCheckOptions.Usage);
            return 2;
        }

        using var http = NewClient();
        _out.WriteLine($"LoadCheck: {options.Clients} clients, {options.Duration.TotalSeconds:0.#} s, nodes {string.Join(" ", options.Urls)}"
            + (options.Sticky ? ", sticky" : string.Empty) + (options.KillNode is { } k ? $", SIGKILL node{k} mid-run" : string.Empty));

        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(options.Duration);
        // SIGINT ends the load early (a test that drives restarts stops it when they are done, however long they took).
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        var clients = Enumerable.Range(1, options.Clients).Select(i => new ClientState(i)).ToArray();
        var random = new Random(options.Seed);
        var loops = clients.Select(c => Task.Run(() => ClientLoopAsync(options, c, new Random(random.Next()), stop.Token))).ToList();
        var events = new List<string>();
        var chaos = options.KillNode is { } node ? KillAndRestartAsync(http, options, node, clock, events, stop.Token) : Task.CompletedTask;
        var progress = ProgressAsync(options, clock, stop.Token);

        await Task.WhenAll(loops);
        var loadSeconds = clock.Elapsed.TotalSeconds;
        await chaos;
        await progress;
        Report(clock, "load done");

        long finals = 0;
        if (options.FinalCheck)
        {
            _out.WriteLine("checking every session on every live node...");
            finals = await CheckAsync(http, options, clients);
        }
        var sessions = clients.Count(c => c.SessionId is not null);
        var violations = clients.SelectMany(c => c.Violations).ToList();
        foreach (var (what, count) in _failures.OrderByDescending(kv => kv.Value).Take(10))
            _out.WriteLine($"  {count,7} x {what}");
        foreach (var v in violations.Take(20))
            _out.WriteLine("  " + v);
        var summary = $"{sessions} sessions, {Interlocked.Read(ref _acked)} acknowledged increments, {Interlocked.Read(ref _unknown)} unknown-outcome requests, "
            + $"{Interlocked.Read(ref _refused)} refused by a down node, {Interlocked.Read(ref _rejected)} rejected before the endpoint ran (503/409), "
            + (options.FinalCheck ? $"final total {finals}" : "final check skipped (--check none)")
            + $", {Interlocked.Read(ref _answers5xx)} answers 5xx, slowest request {Interlocked.Read(ref _slowestTicks) * 1000.0 / Stopwatch.Frequency:0} ms"
            + (events.Count > 0 ? "; " + string.Join("; ", events) : string.Empty);
        var pass = violations.Count == 0 && sessions > 0;
        if (options.Json is { } json)
            await WriteJsonAsync(json, options, clients, loadSeconds, pass, violations.Count);
        if (pass)
        {
            _out.WriteLine($"PASS: no lost update: {summary}");
            return 0;
        }
        _out.WriteLine(sessions == 0 ? $"FAIL: no request was acknowledged: {summary}" : $"FAIL: {violations.Count} violations: {summary}");
        return 1;
    }

    /// <summary>Requests/s and latency percentiles (every answered request) with the verdict, for tools/Bench.</summary>
    private async Task WriteJsonAsync(string path, LoadCheckOptions options, ClientState[] clients, double seconds, bool pass, int violations)
    {
        var ticks = clients.SelectMany(c => c.Latencies).ToArray();
        Array.Sort(ticks);
        double Percentile(double p) => ticks.Length == 0 ? double.NaN
            : ticks[Math.Clamp((int)Math.Ceiling(p / 100 * ticks.Length) - 1, 0, ticks.Length - 1)] * 1000.0 / Stopwatch.Frequency;
        var writes = Interlocked.Read(ref _acked);
        var reads = Interlocked.Read(ref _reads);
        var figures = new SortedDictionary<string, double>(StringComparer.Ordinal)
        {
            ["clients"] = options.Clients,
            ["seconds"] = seconds,
            ["nodes"] = options.Urls.Count,
            ["sticky"] = options.Sticky ? 1 : 0,
            ["writes_acked"] = writes,
            ["reads_answered"] = reads,
            ["requests_per_s"] = (writes + reads) / seconds,
            ["writes_per_s"] = writes / seconds,
            ["unknown"] = Interlocked.Read(ref _unknown),
            ["rejected"] = Interlocked.Read(ref _rejected),
            ["refused"] = Interlocked.Read(ref _refused),
            ["violations"] = violations,
            ["answers_5xx"] = Interlocked.Read(ref _answers5xx),
            ["answers_503"] = Interlocked.Read(ref _answers503),
            ["slowest_ms"] = Interlocked.Read(ref _slowestTicks) * 1000.0 / Stopwatch.Frequency,
            ["pass"] = pass ? 1 : 0,
            ["p50_ms"] = Percentile(50),
            ["p99_ms"] = Percentile(99),
            ["p99_9_ms"] = Percentile(99.9),
            ["max_ms"] = Percentile(100),
        };
        await File.WriteAllTextAsync(path, System.Text.Json.JsonSerializer.Serialize(figures));
    }

    /// <summary>One read-only GET /counter; counted and timed, and with --check-reads checked against the client's last acknowledged increment.</summary>
    private async Task ReadAsync(HttpClient http, LoadCheckOptions options, ClientState client, Uri node)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(node, "counter"));
        request.Headers.Add("Cookie", $"{options.Cookie}={client.SessionId}");
        using var timeout = new CancellationTokenSource(options.Timeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var response = await http.SendAsync(request, timeout.Token);
            var body = await response.Content.ReadAsStringAsync(timeout.Token);
            Answered(options, client, "GET", node, response.StatusCode, body, started);
            if (response.IsSuccessStatusCode)
            {
                client.Latencies.Add(Stopwatch.GetTimestamp() - started);
                Interlocked.Increment(ref _reads);
                if (options.CheckReads && long.TryParse(body, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value < client.LastValue)
                    Violate(client, $"client {client.Index}: stale read on {client.SessionId}: {node} answered {value} after an acknowledged {client.LastValue}");
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
        {
            TooSlow(options, client, "GET", node, "no answer", started);
            _failures.AddOrUpdate($"read: {ex.GetType().Name}", 1, (_, n) => n + 1);
        }
    }

    private async Task ClientLoopAsync(LoadCheckOptions options, ClientState client, Random random, CancellationToken stop)
    {
        // Each client its own connection pool: whether a refusal may hide a request the node received depends on
        // this client's own pooled connection to that node (see the refusal case below).
        using var http = NewClient();
        var answered = new HashSet<Uri>();
        while (!stop.IsCancellationRequested)
        {
            var node = options.Sticky ? options.Urls[(client.Index - 1) % options.Urls.Count] : options.Urls[random.Next(options.Urls.Count)];
            if (client.SessionId is not null && options.Reads > 0 && random.NextDouble() * 100 < options.Reads)
            {
                await ReadAsync(http, options, client, node);
                continue;
            }
            var started = Stopwatch.GetTimestamp();
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(node, "counter"));
            if (client.SessionId is not null)
                request.Headers.Add("Cookie", $"{options.Cookie}={client.SessionId}");
            using var timeout = new CancellationTokenSource(options.Timeout);
            try
            {
                using var response = await http.SendAsync(request, timeout.Token);
                var body = await response.Content.ReadAsStringAsync(timeout.Token);
                answered.Add(node);
                Answered(options, client, "POST", node, response.StatusCode, body, started);
                if (response.StatusCode == HttpStatusCode.OK && long.TryParse(body, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
                {
                    client.Latencies.Add(Stopwatch.GetTimestamp() - started);
                    Acknowledged(client, options, response, value, node);
                    continue;
                }
                _failures.AddOrUpdate($"{(int)response.StatusCode} {Shorten(body)}", 1, (_, n) => n + 1);
                if (response.StatusCode is HttpStatusCode.Conflict
                    || (response.StatusCode == HttpStatusCode.ServiceUnavailable && (options.Strict || !body.Contains("could not be stored", StringComparison.Ordinal))))
                    Interlocked.Increment(ref _rejected); // lock wait timed out or node not ready: the endpoint did not run
                else
                    Unknown(client);
            }
            catch (HttpRequestException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
            {
                TooSlow(options, client, "POST", node, "refused", started);
                // Nothing listens there. But when the node died with this request in flight on a pooled connection,
                // SocketsHttpHandler retries it transparently on a new connection and reports only the refusal:
                // the first refusal after an answer from that node may hide a request the node applied.
                if (answered.Remove(node))
                {
                    _failures.AddOrUpdate("refused after a live connection (maybe a retried in-flight request)", 1, (_, n) => n + 1);
                    Unknown(client);
                }
                else
                {
                    Interlocked.Increment(ref _refused);
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
            {
                TooSlow(options, client, "POST", node, "no answer", started);
                answered.Remove(node);
                _failures.AddOrUpdate($"no answer: {ex.GetType().Name}: {Shorten(ex.Message)}", 1, (_, n) => n + 1);
                Unknown(client); // sent, no answer: it may have been applied
            }
        }
    }

    /// <summary>How the host's readiness gate begins its 503 (ClusteredSessionMiddleware): a node joining or leaving.</summary>
    private const string NotReady = "This node is not ready";

    /// <summary>The checks every answer gets: 5xx answers counted (a violation with --fail-on-5xx), and its latency.</summary>
    private void Answered(LoadCheckOptions options, ClientState client, string method, Uri node, HttpStatusCode status, string body, long started)
    {
        if ((int)status >= 500)
        {
            Interlocked.Increment(ref _answers5xx);
            if (status == HttpStatusCode.ServiceUnavailable)
                Interlocked.Increment(ref _answers503);
            if (options.FailOn5xx && !(options.AllowNotReady && status == HttpStatusCode.ServiceUnavailable && body.StartsWith(NotReady, StringComparison.Ordinal)))
                Violate(client, $"client {client.Index}: {method} on {node} answered {(int)status}: {Shorten(body)}");
        }
        TooSlow(options, client, method, node, ((int)status).ToString(CultureInfo.InvariantCulture), started);
    }

    /// <summary>Records the slowest request; with --max-latency, one slower than the limit is a violation.</summary>
    private void TooSlow(LoadCheckOptions options, ClientState client, string method, Uri node, string outcome, long started)
    {
        var ticks = Stopwatch.GetTimestamp() - started;
        long slowest;
        while (ticks > (slowest = Interlocked.Read(ref _slowestTicks)) && Interlocked.CompareExchange(ref _slowestTicks, ticks, slowest) != slowest)
        {
        }
        var elapsed = Stopwatch.GetElapsedTime(started, started + ticks);
        if (options.MaxLatency is { } max && elapsed > max)
            Violate(client, $"client {client.Index}: {method} on {node} took {elapsed.TotalMilliseconds:0} ms (limit {max.TotalMilliseconds:0} ms, sent {DateTime.UtcNow - elapsed:HH:mm:ss.fff} UTC): {outcome}");
    }

    /// <summary>The first line of an answer or message, for the summary of failures.</summary>
    private static string Shorten(string text)
    {
        var line = text.Split('\n')[0].Trim();
        return line.Length <= 100 ? line : line[..100] + "…";
    }

    private static HttpClient NewClient() =>
        new(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(2) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };

    private void Acknowledged(ClientState client, LoadCheckOptions options, HttpResponseMessage response, long value, Uri node)
    {
        var cookie = response.Headers.TryGetValues("Set-Cookie", out var cookies)
            ? cookies.Select(c => c.Split(';')[0]).FirstOrDefault(c => c.StartsWith(options.Cookie + "=", StringComparison.Ordinal))?[(options.Cookie.Length + 1)..]
            : null;
        if (cookie is not null && cookie != client.SessionId)
        {
            if (client.SessionId is not null)
                Violate(client, $"client {client.Index}: session {client.SessionId} vanished: {node} created a new one after {client.Acked} acknowledged increments");
            client.SessionId = cookie;
            client.Acked = 0;
            client.Unknown = 0;
            client.UnknownSinceAck = 0;
            client.LastValue = 0;
        }
        else if (client.SessionId is null)
        {
            Violate(client, $"client {client.Index}: {node} answered 200 without a session cookie");
            return;
        }
        if (value < client.LastValue + 1)
            Violate(client, $"client {client.Index}: lost update on {client.SessionId}: {node} answered {value} after an acknowledged {client.LastValue}");
        else if (value > client.LastValue + 1 + client.UnknownSinceAck)
            Violate(client, $"client {client.Index}: phantom update on {client.SessionId}: {node} answered {value} after {client.LastValue} with {client.UnknownSinceAck} unknown outcomes between");
        client.LastValue = value;
        client.Acked++;
        client.UnknownSinceAck = 0;
        Interlocked.Increment(ref _acked);
    }

    private void Unknown(ClientState client)
    {
        Interlocked.Increment(ref _unknown);
        if (client.SessionId is null)
            return; // a session being created: if it was, the client never learns its id
        client.Unknown++;
        client.UnknownSinceAck++;
    }

    private void Violate(ClientState client, string what)
    {
        client.Violations.Add(what);
        Interlocked.Increment(ref _violations);
    }

    /// <summary>Reads each session from every live node until they agree (replication settles) or 15 s pass.</summary>
    private async Task<long> CheckAsync(HttpClient http, LoadCheckOptions options, ClientState[] clients)
    {
        long total = 0;
        foreach (var client in clients.Where(c => c.SessionId is not null))
        {
            var deadline = Stopwatch.StartNew();
            Dictionary<Uri, long> values;
            while (true)
            {
                values = [];
                foreach (var node in options.Urls)
                {
                    using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(node, "counter"));
                    request.Headers.Add("Cookie", $"{options.Cookie}={client.SessionId}");
                    try
                    {
                        using var cts = new CancellationTokenSource(options.Timeout);
                        using var response = await http.SendAsync(request, cts.Token);
                        if (response.IsSuccessStatusCode)
                            values[node] = long.Parse(await response.Content.ReadAsStringAsync(cts.Token), CultureInfo.InvariantCulture);
                    }
                    catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
                    {
                        // a node that is down is not asked
                    }
                }
                if ((values.Count > 0 && values.Values.Distinct().Count() == 1) || deadline.Elapsed > TimeSpan.FromSeconds(15))
                    break;
                await Task.Delay(200);
            }
            if (values.Count == 0)
            {
                Violate(client, $"client {client.Index}: no node answered for session {client.SessionId}");
                continue;
            }
            if (values.Values.Distinct().Count() > 1)
                Violate(client, $"client {client.Index}: nodes disagree on {client.SessionId}: {string.Join(", ", values.Select(kv => $"{kv.Key.Authority}={kv.Value}"))}");
            var final = values.Values.Min();
            total += final;
            if (final < client.Acked || final < client.LastValue)
                Violate(client, $"client {client.Index}: lost update on {client.SessionId}: {client.Acked} acknowledged increments (last answer {client.LastValue}), final {final}");
            else if (final > client.Acked + client.Unknown)
                Violate(client, $"client {client.Index}: phantom update on {client.SessionId}: final {final} > {client.Acked} acknowledged + {client.Unknown} unknown");
        }
        return total;
    }

    private async Task KillAndRestartAsync(HttpClient http, LoadCheckOptions options, int node, Stopwatch clock, List<string> events, CancellationToken stop)
    {
        try
        {
            await Task.Delay(options.KillAfter ?? options.Duration / 3, stop);
            var pidFile = Path.Combine(options.ClusterDir, $"node{node}.pid");
            var pid = int.Parse(File.ReadAllText(pidFile).Trim(), CultureInfo.InvariantCulture);
            using (var process = Process.GetProcessById(pid))
                process.Kill(); // SIGKILL: no graceful leave, no flush
            events.Add($"node{node} SIGKILLed at {clock.Elapsed.TotalSeconds:0.0}s");
            _out.WriteLine($"[{clock.Elapsed.TotalSeconds,6:0.0}s] node{node} (pid {pid}) SIGKILLed");
            await Task.Delay(options.RestartAfter, stop);
            using (var restart = Process.Start("bash", Path.Combine(options.ClusterDir, $"node{node}.sh")))
                await restart.WaitForExitAsync(stop);
            _out.WriteLine($"[{clock.Elapsed.TotalSeconds,6:0.0}s] node{node} restarted");
            var health = new Uri(options.Urls[node - 1], "health");
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    using var response = await http.GetAsync(health, stop);
                    if (response.IsSuccessStatusCode)
                    {
                        events.Add($"node{node} healthy again at {clock.Elapsed.TotalSeconds:0.0}s");
                        _out.WriteLine($"[{clock.Elapsed.TotalSeconds,6:0.0}s] node{node} healthy again");
                        return;
                    }
                }
                catch (HttpRequestException)
                {
                    // still starting
                }
                await Task.Delay(200, stop);
            }
        }
        catch (OperationCanceledException)
        {
            events.Add($"node{node} kill/restart did not complete within the run");
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or FormatException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            events.Add($"node{node} kill/restart failed: {ex.Message}");
            _error.WriteLine($"LoadCheck: kill/restart of node{node} failed: {ex.Message}");
        }
    }

    private async Task ProgressAsync(LoadCheckOptions options, Stopwatch clock, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(options.Progress);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
                Report(clock, "running");
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Report(Stopwatch clock, string what)
    {
        var acked = Interlocked.Read(ref _acked);
        _out.WriteLine($"[{clock.Elapsed.TotalSeconds,6:0.0}s] {what}: acked {acked} ({acked / Math.Max(clock.Elapsed.TotalSeconds, 0.001):0}/s), unknown {Interlocked.Read(ref _unknown)}, "
            + $"refused {Interlocked.Read(ref _refused)}, rejected {Interlocked.Read(ref _rejected)}, violations {Interlocked.Read(ref _violations)}");
    }
}
