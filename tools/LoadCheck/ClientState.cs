namespace Multicast.LoadCheck;

/// <summary>One client's session and what it saw happen to it.</summary>
internal sealed class ClientState(int index)
{
    public int Index { get; } = index;

    /// <summary>The session id from the cookie; null until a POST was acknowledged.</summary>
    public string? SessionId { get; set; }

    /// <summary>Acknowledged increments (200 answers) of the current session.</summary>
    public long Acked { get; set; }

    /// <summary>Requests on the current session whose outcome is unknown (no answer, or a failed commit): each may or may not have been applied.</summary>
    public long Unknown { get; set; }

    /// <summary>Unknown outcomes since the last acknowledged answer.</summary>
    public long UnknownSinceAck { get; set; }

    /// <summary>The value of the last acknowledged answer.</summary>
    public long LastValue { get; set; }

    public List<string> Violations { get; } = [];

    /// <summary>Latencies (Stopwatch ticks) of answered requests, reads and writes.</summary>
    public List<long> Latencies { get; } = [];
}
