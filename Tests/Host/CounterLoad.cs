using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace Multicast.Tests.Host;

/// <summary>
/// Non-sticky load on the counter endpoint for the fault tests: one client per session, each sending POST /counter to
/// a random node of its list, one request at a time, recording every answer with its time. The accounting is the store
/// contract's: 200 is applied; 503 and 409 are refusals that applied nothing; any other answer, and no answer, may or
/// may not have been applied. <see cref="Check"/> then holds the final values against it.
/// </summary>
internal sealed class CounterLoad : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly Func<IReadOnlyList<Uri>> _targets;
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly List<Task> _clients = [];

    /// <summary>Starts one client per session (each created with the counter at 1, acknowledged).</summary>
    /// <param name="http">Sends the requests (no cookies, no redirects).</param>
    /// <param name="sessions">The session ids, one client each.</param>
    /// <param name="targets">The nodes a request may go to, asked before every request (a balancer's live list).</param>
    /// <param name="timeout">A request without an answer after this is given up (its outcome unknown).</param>
    public CounterLoad(HttpClient http, IReadOnlyList<string> sessions, Func<IReadOnlyList<Uri>> targets, TimeSpan timeout)
    {
        _http = http;
        _targets = targets;
        Sessions = [.. sessions.Select(s => new SessionLoad(s))];
        foreach (var session in Sessions)
            _clients.Add(Task.Run(() => ClientAsync(session, new Random(session.Id.GetHashCode(StringComparison.Ordinal)), timeout)));
    }

    public IReadOnlyList<SessionLoad> Sessions { get; }

    /// <summary>Time since the load started, on the clock every <see cref="Answer"/> uses.</summary>
    public TimeSpan Now => _clock.Elapsed;

    public IEnumerable<Answer> Answers => Sessions.SelectMany(s => s.Answers);

    /// <summary>Stops sending and waits for the requests in flight.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_clients);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    /// <summary>Every violation of the accounting, given each session's final value (the same on every node).</summary>
    public List<string> Check(IReadOnlyDictionary<string, long> finals)
    {
        var violations = new List<string>();
        foreach (var s in Sessions)
        {
            violations.AddRange(s.Violations);
            if (!finals.TryGetValue(s.Id, out var final))
            {
                violations.Add($"{s.Id}: no final value");
                continue;
            }
            if (final < s.Acked || final < s.LastValue)
                violations.Add($"lost update on {s.Id}: {s.Acked} acknowledged (last answer {s.LastValue}), final {final}");
            else if (final > s.Acked + s.Unknown)
                violations.Add($"phantom update on {s.Id}: final {final} > {s.Acked} acknowledged + {s.Unknown} unknown ({s.Refused} refused with 503/409)");
        }
        return violations;
    }

    private async Task ClientAsync(SessionLoad session, Random random, TimeSpan timeout)
    {
        while (!_stop.IsCancellationRequested)
        {
            var targets = _targets();
            var node = targets[random.Next(targets.Count)];
            var started = Now;
            session.Sending(node, started);
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(node, "/counter"));
            request.Headers.Add("Cookie", $"{TestCluster.CookieName}={session.Id}");
            using var deadline = new CancellationTokenSource(timeout);
            try
            {
                // Not the stop token: a request sent is waited for, so its outcome is known.
                using var response = await _http.SendAsync(request, deadline.Token);
                var body = await response.Content.ReadAsStringAsync(deadline.Token);
                session.Record(new Answer(node, started, Now, (int)response.StatusCode, body));
            }
            catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException)
            {
                session.Record(new Answer(node, started, Now, 0, $"{ex.GetType().Name}: {ex.Message}"));
            }
        }
    }

    /// <summary>One request and its answer; <see cref="Status"/> 0 when none came.</summary>
    internal sealed record Answer(Uri Node, TimeSpan Started, TimeSpan Ended, int Status, string Body)
    {
        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"[{Started.TotalSeconds:0.000}-{Ended.TotalSeconds:0.000}] {Node.Authority} {Status} {Body.Split('\n')[0]}");
    }

    /// <summary>A request sent and not yet answered.</summary>
    internal sealed record PendingRequest(Uri Node, TimeSpan Started);

    /// <summary>One session's client and what it saw.</summary>
    internal sealed class SessionLoad(string id)
    {
        private readonly ConcurrentQueue<Answer> _answers = new();
        private long _unknownSinceAck;

        public string Id { get; } = id;

        /// <summary>Acknowledged increments, the creating one included.</summary>
        public long Acked { get; private set; } = 1;

        public long Unknown { get; private set; }

        public long Refused { get; private set; }

        public long LastValue { get; private set; } = 1;

        public List<string> Violations { get; } = [];

        public IEnumerable<Answer> Answers => _answers;

        private volatile PendingRequest? _pending;

        /// <summary>The request the client waits for, if any.</summary>
        public PendingRequest? Pending => _pending;

        public void Sending(Uri node, TimeSpan started) => _pending = new PendingRequest(node, started);

        /// <summary>Called by the session's one client, in order.</summary>
        public void Record(Answer answer)
        {
            _pending = null;
            _answers.Enqueue(answer);
            if (answer.Status == (int)HttpStatusCode.OK && long.TryParse(answer.Body, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            {
                if (value < LastValue + 1)
                    Violations.Add($"lost update on {Id}: {answer} after an acknowledged {LastValue}");
                else if (value > LastValue + 1 + _unknownSinceAck)
                    Violations.Add($"phantom update on {Id}: {answer} after {LastValue} with {_unknownSinceAck} unknown outcomes between");
                LastValue = value;
                Acked++;
                _unknownSinceAck = 0;
            }
            else if (answer.Status is (int)HttpStatusCode.ServiceUnavailable or (int)HttpStatusCode.Conflict)
            {
                Refused++;
            }
            else
            {
                Unknown++;
                _unknownSinceAck++;
            }
        }
    }
}
