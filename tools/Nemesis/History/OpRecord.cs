using System.Globalization;
using System.Text;
using Multicast.Nemesis.Schedules;

namespace Multicast.Nemesis.History;

/// <summary>
/// One step as it happened: when it was sent, when the find answered (and with which lock), when the commit started,
/// when it completed, what it read and wrote, and the outcome. Times are from the start of the schedule's load, on one
/// clock for the whole cluster. Written by one client task; read by the checker after the run.
/// </summary>
internal sealed class OpRecord
{
    public required int Id { get; init; }

    /// <summary>The client (0-based); -1 for setup and probe steps.</summary>
    public required int Client { get; init; }

    public required OpKind Kind { get; init; }

    public required int Slot { get; init; }

    /// <summary>The session the step is for; for a create, the id the store gave (null until then).</summary>
    public string? SessionId { get; set; }

    public required int Node { get; init; }

    public required TimeSpan Invoked { get; init; }

    /// <summary>When the find (or create) answered.</summary>
    public TimeSpan? Found { get; set; }

    /// <summary>When the commit (or removal) was called.</summary>
    public TimeSpan? CommitStarted { get; set; }

    public TimeSpan? Completed { get; set; }

    public OpOutcome Outcome { get; set; }

    /// <summary>The exception (type and first line), for outcomes other than Ok and NotFound.</summary>
    public string? Error { get; set; }

    /// <summary>Whether the exception was one the contract allows: a typed refusal, <see cref="Sessions.CommitInDoubtException"/>,
    /// or the expected answer (a refused oversize write).</summary>
    public bool TypedError { get; set; }

    /// <summary>The generation of the node the step was sent to (<c>NemesisNode.Generation</c>): when the node's
    /// generation moved on before the answer, the node died and the answer never reached the client.</summary>
    public int Incarnation { get; set; }

    /// <summary>The node crashed or restarted while the step was in flight (its outcome is then legitimately unknown).</summary>
    public bool NodeDied { get; set; }

    /// <summary>No answer within the client's timeout.</summary>
    public bool Hung { get; set; }

    /// <summary>The version the find returned.</summary>
    public long? ReadVersion { get; set; }

    /// <summary>The counter the step read (Pessimistic), or null when the key was absent.</summary>
    public int? ReadCount { get; set; }

    /// <summary>The op id stored in the session when it was read (the last write this step saw).</summary>
    public int? ReadMarker { get; set; }

    /// <summary>With <c>Locking=None</c>: the <c>w{op}</c> keys the step read.</summary>
    public IReadOnlyList<int>? ReadKeys { get; set; }

    /// <summary>The counter the step wrote.</summary>
    public int? WrittenCount { get; set; }

    /// <summary>The fencing token of the lock the find granted.</summary>
    public long? Token { get; set; }

    public string? Holder { get; set; }

    public DateTimeOffset? LeaseExpires { get; set; }

    /// <summary>The version the store committed (the session's state after the commit).</summary>
    public long? CommittedVersion { get; set; }

    /// <summary>Whether this step writes the session (a create, an increment, an oversize write, a write, a probe).</summary>
    public bool IsWrite => Kind is OpKind.Create or OpKind.Increment or OpKind.Oversize or OpKind.Write or OpKind.Probe;

    /// <summary>One history line: <c>#12 c1 node2 inc s0:abcd… [0.412-0.455] found v7 count 6 (op #9) token 5 -> wrote 7 v8: Ok</c>.</summary>
    public override string ToString()
    {
        var b = new StringBuilder();
        var who = Client >= 0 ? $"c{Client}" : Kind == OpKind.Probe ? "probe" : "setup";
        b.Append(CultureInfo.InvariantCulture, $"#{Id} {who} node{Node + 1} {Kind.ToString().ToLowerInvariant()} slot{Slot} {Short(SessionId)} [{S(Invoked)}");
        b.Append(Found is { } f ? $" found {S(f)}" : string.Empty);
        b.Append(CommitStarted is { } c ? $" commit {S(c)}" : string.Empty);
        b.Append(Completed is { } d ? $" done {S(d)}]" : " no answer]");
        if (ReadVersion is { } rv)
            b.Append(CultureInfo.InvariantCulture, $" read v{rv}");
        if (ReadCount is { } rc)
            b.Append(CultureInfo.InvariantCulture, $" count {rc}");
        if (ReadMarker is { } rm)
            b.Append(CultureInfo.InvariantCulture, $" (op #{rm})");
        if (ReadKeys is { Count: > 0 } keys)
            b.Append(CultureInfo.InvariantCulture, $" keys {keys.Count}");
        if (Token is { } token)
            b.Append(CultureInfo.InvariantCulture, $" token {token}");
        if (WrittenCount is { } wc)
            b.Append(CultureInfo.InvariantCulture, $" -> count {wc}");
        if (CommittedVersion is { } cv)
            b.Append(CultureInfo.InvariantCulture, $" v{cv}");
        b.Append(": ").Append(Outcome);
        if (NodeDied)
            b.Append(" (node died meanwhile)");
        if (Hung)
            b.Append(" (hung)");
        if (Error is not null)
            b.Append(" ").Append(Error);
        return b.ToString();
    }

    private static string S(TimeSpan t) => t.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture);

    private static string Short(string? id) => id is null ? "(no id)" : id.Length <= 10 ? id : id[..10] + "…";
}
