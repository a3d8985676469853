using Microsoft.Extensions.Logging;

namespace Multicast.AspNetCore;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Node {NodeId} joining the cluster ({Store})")]
    public static partial void Joining(ILogger logger, string nodeId, string store);

    [LoggerMessage(2, LogLevel.Information, "Node {NodeId} ready: view {ViewId} with {Members} members, {Sessions} sessions")]
    public static partial void Ready(ILogger logger, string nodeId, long viewId, int members, int sessions);

    [LoggerMessage(3, LogLevel.Critical, "Node {NodeId} could not join the cluster; stopping")]
    public static partial void StartFailed(ILogger logger, string nodeId, Exception exception);

    [LoggerMessage(4, LogLevel.Information, "Node {NodeId} leaving the cluster (handing off, flushing)")]
    public static partial void Leaving(ILogger logger, string nodeId);

    [LoggerMessage(5, LogLevel.Information, "Node {NodeId} left the cluster")]
    public static partial void Left(ILogger logger, string nodeId);

    [LoggerMessage(6, LogLevel.Error, "Session {SessionId} could not be committed; answering {StatusCode}")]
    public static partial void CommitFailed(ILogger logger, string sessionId, int statusCode, Exception exception);

    [LoggerMessage(7, LogLevel.Debug, "Session {SessionId} is locked by {Holder}; policy {Policy}")]
    public static partial void Locked(ILogger logger, string sessionId, string holder, string policy);

    [LoggerMessage(8, LogLevel.Warning, "The request failed; session {SessionId} released without its changes")]
    public static partial void Aborted(ILogger logger, string sessionId, Exception exception);

    [LoggerMessage(9, LogLevel.Warning, "Releasing session {SessionId} failed; its lease frees it")]
    public static partial void ReleaseFailed(ILogger logger, string sessionId, Exception exception);

    [LoggerMessage(10, LogLevel.Warning, "Session {SessionId}: the change was refused and not stored ({Reason})")]
    public static partial void CommitRefused(ILogger logger, string sessionId, string reason);

    [LoggerMessage(11, LogLevel.Information, "The cluster cannot serve the request now ({Status}): {Reason}")]
    public static partial void Unavailable(ILogger logger, string status, string reason);
}
