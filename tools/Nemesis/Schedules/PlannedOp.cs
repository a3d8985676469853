namespace Multicast.Nemesis.Schedules;

/// <summary>One step of a client's plan: what, on which session slot, sent to which node (a non-sticky balancer).</summary>
internal readonly record struct PlannedOp(OpKind Kind, int Slot, int Node);
