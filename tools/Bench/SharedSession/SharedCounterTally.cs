namespace Multicast.Bench.SharedSession;

/// <summary>
/// What the clients of one shared session saw, and what it proves. Every 200 answer to <c>POST /counter</c> is an
/// acknowledged increment (the creating request included); a refusal that proves the endpoint did not run (409, 503)
/// is not; a request with no answer may or may not have been applied. With A acknowledged and U unknown, a store
/// that loses nothing ends with A &lt;= final &lt;= A + U: <see cref="Lost"/> = A − final counts the increments that
/// were acknowledged and are gone (last writer wins); two 200 answers with the same value
/// (<see cref="DuplicateAnswers"/>) are two requests that read the same state and wrote over each other.
/// </summary>
internal sealed class SharedCounterTally
{
    private readonly object _gate = new();
    private readonly Dictionary<long, int> _answers = [];
    private long _acknowledged, _rejected, _unknown;

    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    public long Rejected => Interlocked.Read(ref _rejected);

    public long Unknown => Interlocked.Read(ref _unknown);

    /// <summary>The counter every node agreed on at the end (or the lowest, if they never agreed); null until read.</summary>
    public long? Final { get; set; }

    /// <summary>How long the concurrent requests took (the creating POST and the final read excluded).</summary>
    public TimeSpan Elapsed { get; set; }

    /// <summary>Whether the nodes still disagreed when the final read gave up.</summary>
    public bool NodesDisagree { get; set; }

    /// <summary>Acknowledged increments missing from the final value.</summary>
    public long Lost => Final is { } final ? Math.Max(0, Acknowledged - final) : 0;

    /// <summary>Increments in the final value that no request can explain (neither acknowledged nor of unknown outcome).</summary>
    public long Phantom => Final is { } final ? Math.Max(0, final - Acknowledged - Unknown) : 0;

    /// <summary>200 answers whose value another 200 answer had already carried.</summary>
    public long DuplicateAnswers
    {
        get
        {
            lock (_gate)
                return _answers.Values.Sum(n => n - 1L);
        }
    }

    public void Answered(long value)
    {
        Interlocked.Increment(ref _acknowledged);
        lock (_gate)
            _answers[value] = _answers.GetValueOrDefault(value) + 1;
    }

    public void Refused() => Interlocked.Increment(ref _rejected);

    public void NoAnswer() => Interlocked.Increment(ref _unknown);
}
