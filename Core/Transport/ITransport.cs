namespace Multicast.Transport;

/// <summary>
/// Unreliable datagrams to the group and to one member: the layer the reliable group channel runs on.
/// </summary>
/// <remarks>
/// <para>Nothing is guaranteed: a datagram may be lost, duplicated, reordered or delayed. The
/// reliable group channel (<see cref="Messaging.IGroupChannel"/>) repairs all of that.</para>
/// <para>Received datagrams are handed to <see cref="IDatagramHandler.OnDatagram"/> on one dedicated,
/// named receive thread owned by the transport, one at a time, in arrival order. The span is valid
/// only during the call.</para>
/// <para><see cref="SendToGroup"/> and <see cref="SendTo"/> are thread-safe, never block the receive
/// thread and never throw for a lost datagram: a send that the network or the transport cannot carry
/// is dropped and counted.</para>
/// </remarks>
public interface ITransport : IAsyncDisposable
{
    /// <summary>This node's unicast address in the transport's own notation; valid after <see cref="StartAsync"/>.
    /// Members announce it so that others can call <see cref="SendTo"/>.</summary>
    string LocalAddress { get; }

    /// <summary>The largest datagram <see cref="SendToGroup"/> and <see cref="SendTo"/> accept, in bytes.</summary>
    int MaxDatagramSize { get; }

    /// <summary>Whether every datagram stays on this machine (bound to a loopback interface, or in process): no other
    /// machine can send to the group or read it. The reliable group channel runs without a cluster key only then
    /// (or when insecure mode is asked for). Known before <see cref="StartAsync"/>.</summary>
    /// <value>The default value is <see langword="false"/>.</value>
    bool IsLoopback => false;

    /// <summary>Binds, joins the group and starts the receive thread. Fails (with a message naming the
    /// setting or the missing native library) when the transport cannot start.</summary>
    ValueTask StartAsync(IDatagramHandler handler, CancellationToken cancellationToken = default);

    /// <summary>Sends one datagram to every member of the group (possibly including this node).</summary>
    /// <exception cref="ArgumentException">The datagram is larger than <see cref="MaxDatagramSize"/>.</exception>
    void SendToGroup(ReadOnlySpan<byte> datagram);

    /// <summary>Sends one datagram to the member at <paramref name="address"/> (an address a member announced).
    /// <paramref name="address"/> may be this node's own <see cref="LocalAddress"/>: the datagram then reaches this
    /// node's own handler (the reliable channel installs its views that way, on the receive thread).</summary>
    /// <exception cref="ArgumentException">The datagram is larger than <see cref="MaxDatagramSize"/>.</exception>
    void SendTo(string address, ReadOnlySpan<byte> datagram);

    /// <summary>
    /// Sends several datagrams to every member of the group, in order: <paramref name="lengths"/>[i] bytes each, stored
    /// back to back at the start of <paramref name="datagrams"/>. The same as calling <see cref="SendToGroup"/>
    /// for each (every datagram may be lost on its own); a transport may hand the whole batch to the kernel at once.
    /// </summary>
    /// <exception cref="ArgumentException">A datagram is larger than <see cref="MaxDatagramSize"/>, or the lengths add up to
    /// more than <paramref name="datagrams"/> holds.</exception>
    void SendBatchToGroup(ReadOnlySpan<byte> datagrams, ReadOnlySpan<int> lengths)
    {
        TransportBatch.Check(datagrams.Length, lengths);
        foreach (var length in lengths)
        {
            SendToGroup(datagrams[..length]);
            datagrams = datagrams[length..];
        }
    }

    /// <summary>
    /// Sends several datagrams to the member at <paramref name="address"/>, in order, stored as for
    /// <see cref="SendBatchToGroup"/>. The same as calling
    /// <see cref="SendTo"/> for each; a transport may hand the whole batch to the kernel at once.
    /// </summary>
    /// <exception cref="ArgumentException">A datagram is larger than <see cref="MaxDatagramSize"/>, or the lengths add up to
    /// more than <paramref name="datagrams"/> holds.</exception>
    void SendBatchTo(string address, ReadOnlySpan<byte> datagrams, ReadOnlySpan<int> lengths)
    {
        TransportBatch.Check(datagrams.Length, lengths);
        foreach (var length in lengths)
        {
            SendTo(address, datagrams[..length]);
            datagrams = datagrams[length..];
        }
    }
}
