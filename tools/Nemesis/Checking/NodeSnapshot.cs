using Multicast.Sessions;

namespace Multicast.Nemesis.Checking;

/// <summary>What one node held when the run ended.</summary>
/// <param name="NodeId">The node.</param>
/// <param name="Live">Whether it was up (a node that failed to restart is not live and is not compared).</param>
/// <param name="Status">Its store's status.</param>
/// <param name="ViewSize">Members in its view, when the store reports one.</param>
/// <param name="Sessions">Its session table, by id.</param>
/// <param name="MustHold">For each session id the history knows: whether the store's placement puts it on this node
/// (null when the store cannot say).</param>
internal sealed record NodeSnapshot(
    string NodeId,
    bool Live,
    ClusterStoreStatus Status,
    int? ViewSize,
    IReadOnlyDictionary<string, SessionState> Sessions,
    IReadOnlyDictionary<string, bool?> MustHold);
