using Multicast.Messaging;
using Multicast.Sessions;

namespace Multicast.Tests.PublicStore;

/// <summary>What the server pushes to a connected node, in the order it decided it (a pub/sub channel).</summary>
internal abstract record ServerNotification;

/// <summary>A session's new committed state (a commit), or the same version with a later access time (a touch, with an
/// empty <paramref name="Writer"/>).</summary>
internal sealed record StateNotification(SessionState State, string Writer, WriteConcern? Concern) : ServerNotification;

/// <summary>A session removed (invalidated or expired) as version <paramref name="Version"/>.</summary>
internal sealed record RemovalNotification(string Id, long Version, string Writer, SessionRemovalReason Reason, WriteConcern? Concern) : ServerNotification;

/// <summary>The server's list of connected nodes changed.</summary>
internal sealed record ViewNotification(MembershipView View) : ServerNotification;
