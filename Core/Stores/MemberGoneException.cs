using Multicast.Sessions;

namespace Multicast.Stores;

/// <summary>The member a request was addressed to left the view before answering; the caller retries elsewhere.</summary>
internal sealed class MemberGoneException(string node) : Exception($"Node '{node}' left the view before answering.")
{
    public string Node { get; } = node;
}
