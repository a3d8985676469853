using Microsoft.Extensions.Logging;

namespace Multicast.Messaging;

public sealed partial class ReliableGroupChannel
{
    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Cluster '{ClusterId}' has no Cluster:ClusterKey: datagrams are not authenticated; anyone who can reach the group can inject or read them")]
        public static partial void NoClusterKey(ILogger logger, string clusterId);

        [LoggerMessage(2, LogLevel.Information, "{Member} joining the group (unicast address {Address})")]
        public static partial void Joining(ILogger logger, string member, string address);

        [LoggerMessage(3, LogLevel.Information, "{Member} installed {View}")]
        public static partial void ViewInstalled(ILogger logger, string member, string view);

        [LoggerMessage(4, LogLevel.Debug, "Proposing {View}")]
        public static partial void Proposing(ILogger logger, string view);

        [LoggerMessage(5, LogLevel.Warning, "{Member} suspected: not heard from for {Timeout}")]
        public static partial void Suspected(ILogger logger, string member, TimeSpan timeout);

        [LoggerMessage(6, LogLevel.Error, "{Member} was removed from the group (view {ViewId}); rejoining")]
        public static partial void Excluded(ILogger logger, string member, long viewId);

        [LoggerMessage(7, LogLevel.Information, "{Member} left the group")]
        public static partial void Left(ILogger logger, string member);

        [LoggerMessage(8, LogLevel.Warning, "Leaving with messages not acknowledged by every addressee (broadcasts up to {Sequence})")]
        public static partial void LeaveUnacknowledged(ILogger logger, long sequence);

        [LoggerMessage(9, LogLevel.Warning, "Sending a datagram to {Destination} failed")]
        public static partial void SendFailed(ILogger logger, string destination, Exception exception);

        [LoggerMessage(10, LogLevel.Error, "Unexpected error while handling a datagram; the datagram was dropped")]
        public static partial void ReceiveFailed(ILogger logger, Exception exception);

        [LoggerMessage(11, LogLevel.Error, "The group handler threw; the receive thread continues")]
        public static partial void HandlerFailed(ILogger logger, Exception exception);

        [LoggerMessage(12, LogLevel.Error, "Unexpected error in the channel timer")]
        public static partial void TimerFailed(ILogger logger, Exception exception);

        [LoggerMessage(14, LogLevel.Warning, "{Member} heard {Other}, of a group with an older coordinator: asking it to admit this node, to merge the groups")]
        public static partial void Merging(ILogger logger, string member, string other);

        [LoggerMessage(13, LogLevel.Error, "A view of {Count} members needs {Size} bytes, more than {Fragments} datagrams: raise Cluster:DatagramSize")]
        public static partial void ViewTooLarge(ILogger logger, int count, int size, int fragments);

        [LoggerMessage(15, LogLevel.Warning, "{Member} merged into the group of {Coordinator}")]
        public static partial void Merged(ILogger logger, string member, string coordinator);

        [LoggerMessage(16, LogLevel.Warning, "{Member} holds the broadcast window ({WindowBytes} bytes unacknowledged): no acknowledgement for {Timeout} while sends wait; asking the coordinator to remove it")]
        public static partial void SlowMember(ILogger logger, string member, TimeSpan timeout, long windowBytes);

        [LoggerMessage(17, LogLevel.Warning, "{Member} reported by {Reporter} for holding its broadcast window")]
        public static partial void SlowMemberReported(ILogger logger, string member, string reporter);

        [LoggerMessage(18, LogLevel.Warning, "{Member} removed from the view: it held a member's broadcast window")]
        public static partial void SlowMemberRemoved(ILogger logger, string member);

        [LoggerMessage(19, LogLevel.Warning, "{Member} stalled for {Duration} (its timer ran late or its receive thread was stuck): that time is not counted as its peers' silence")]
        public static partial void LocalStall(ILogger logger, string member, TimeSpan duration);

        [LoggerMessage(20, LogLevel.Debug, "{Member} stalled for {Duration} (its timer ran late or its receive thread was stuck): not counted as its peers' silence")]
        public static partial void ShortLocalStall(ILogger logger, string member, TimeSpan duration);

        [LoggerMessage(21, LogLevel.Warning, "{Member}, the coordinator, restarted as {Joiner}: the next member in line takes over")]
        public static partial void CoordinatorRestarted(ILogger logger, string member, string joiner);

        [LoggerMessage(22, LogLevel.Warning, "{Member}: {Coordinator}, which coordinated its view, now belongs to another group (its leave was lost): rejoining, to follow it")]
        public static partial void CoordinatorMovedOn(ILogger logger, string member, string coordinator);
    }
}
