namespace Multicast.Nemesis.Checking;

/// <summary>One broken guarantee, with the history steps that show it.</summary>
/// <param name="Kind">What is broken.</param>
/// <param name="SessionId">The session, when it concerns one.</param>
/// <param name="Message">What the checker saw.</param>
/// <param name="Ops">The ids of the history steps that show it.</param>
internal sealed record Violation(ViolationKind Kind, string? SessionId, string Message, IReadOnlyList<int> Ops)
{
    public override string ToString() => $"{Kind}: {Message}";
}
