using System.Collections.Concurrent;
using Multicast.Messaging.Internal;
using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.TestSupport;

/// <summary>
/// An in-memory transport whose traffic the test sorts by the reliable channel's packet kind: incoming datagrams can be
/// held (and let through later, in order) except the kinds the test lets pass, and outgoing ones of chosen kinds
/// dropped. For faults no hub-wide setting can make, such as a member that hears its peers' heartbeats but not yet the
/// view that removed it, or a member whose view proposals are lost while its heartbeats go out.
/// </summary>
internal sealed class GatedTransport(InMemoryHub hub, InMemoryTransport inner) : ITransport
{
    private readonly Lock _gate = new();
    private readonly Queue<byte[]> _held = new();
    private Func<PacketKind, bool>? _passWhileHolding; // null: not holding
    private Func<PacketKind, string?, bool>? _dropOutgoing;
    private DatagramFilter? _dropOutgoingDatagrams;
    private int _dropped;
    private readonly ConcurrentQueue<byte[]> _droppedCopies = new();
    private readonly ConcurrentDictionary<PacketKind, int> _sent = new();
    private readonly ConcurrentDictionary<PacketKind, int> _received = new();

    public string LocalAddress => inner.LocalAddress;

    public int MaxDatagramSize => inner.MaxDatagramSize;

    public bool IsLoopback => inner.IsLoopback;

    /// <summary>Decides on an outgoing datagram by its kind, its destination (null: the group) and its bytes.</summary>
    public delegate bool DatagramFilter(PacketKind kind, string? to, ReadOnlySpan<byte> datagram);

    /// <summary>Outgoing datagrams dropped by <see cref="DropOutgoing"/> or <see cref="DropOutgoingDatagrams"/>.</summary>
    public int DroppedOutgoing => Volatile.Read(ref _dropped);

    /// <summary>Copies of the first 1,000 dropped outgoing datagrams, in the order they were dropped: a test can deliver
    /// one later (its counter was never seen by the addressee, so its replay window takes it).</summary>
    public IReadOnlyList<byte[]> DroppedDatagrams => _droppedCopies.ToArray();

    /// <summary>How many datagrams of this kind this member sent to others (dropped ones included), e.g. reliable unicast
    /// packets, in which the store's requests to one member travel.</summary>
    public int SentOf(PacketKind kind) => _sent.GetValueOrDefault(kind);

    /// <summary>How many datagrams of this kind reached this member's receive thread (held ones once they are let in).</summary>
    public int ReceivedOf(PacketKind kind) => _received.GetValueOrDefault(kind);

    /// <summary>From now on incoming datagrams are held, except those of a kind <paramref name="pass"/> accepts (none when
    /// null); what was held so far stays held.</summary>
    public void HoldIncoming(Func<PacketKind, bool>? pass = null)
    {
        lock (_gate)
            _passWhileHolding = pass ?? (_ => false);
    }

    /// <summary>Lets everything in again: the held datagrams go first to the receive thread, in the order they came.</summary>
    public void ReleaseIncoming()
    {
        lock (_gate)
        {
            _passWhileHolding = null;
            while (_held.TryDequeue(out var datagram))
                hub.Inject(LocalAddress, datagram); // queued behind what the receive thread has not taken yet
        }
    }

    /// <summary>Drops outgoing datagrams for which <paramref name="drop"/> holds (kind, destination address or null for
    /// the group); null stops dropping.</summary>
    public void DropOutgoing(Func<PacketKind, string?, bool>? drop) => Volatile.Write(ref _dropOutgoing, drop);

    /// <summary>Drops outgoing datagrams for which <paramref name="drop"/> holds, deciding on their bytes too; null stops.</summary>
    public void DropOutgoingDatagrams(DatagramFilter? drop) => Volatile.Write(ref _dropOutgoingDatagrams, drop);

    public ValueTask StartAsync(IDatagramHandler handler, CancellationToken cancellationToken = default) =>
        inner.StartAsync(new Gate(this, handler), cancellationToken);

    public void SendToGroup(ReadOnlySpan<byte> datagram)
    {
        if (!Dropped(datagram, null))
            inner.SendToGroup(datagram);
    }

    public void SendTo(string address, ReadOnlySpan<byte> datagram)
    {
        if (!Dropped(datagram, address))
            inner.SendTo(address, datagram);
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private bool Dropped(ReadOnlySpan<byte> datagram, string? to)
    {
        if (!PacketHeader.TryRead(datagram, out var header))
            return false;
        if (to != LocalAddress)
            _sent.AddOrUpdate(header.Kind, 1, (_, n) => n + 1);
        var dropped = Volatile.Read(ref _dropOutgoing) is { } drop && drop(header.Kind, to)
            || Volatile.Read(ref _dropOutgoingDatagrams) is { } filter && filter(header.Kind, to, datagram);
        if (!dropped)
            return false;
        if (Interlocked.Increment(ref _dropped) <= 1000)
            _droppedCopies.Enqueue(datagram.ToArray());
        return true;
    }

    /// <summary>Whether the receive thread may take this datagram now; held (copied) otherwise.</summary>
    private bool Admit(ReadOnlySpan<byte> datagram)
    {
        lock (_gate)
        {
            if (_passWhileHolding is not { } pass)
                return true;
            if (PacketHeader.TryRead(datagram, out var header) && pass(header.Kind))
                return true;
            _held.Enqueue(datagram.ToArray());
            return false;
        }
    }

    private sealed class Gate(GatedTransport owner, IDatagramHandler handler) : IDatagramHandler
    {
        public void OnDatagram(ReadOnlySpan<byte> datagram)
        {
            if (!owner.Admit(datagram))
                return;
            if (PacketHeader.TryRead(datagram, out var header))
                owner._received.AddOrUpdate(header.Kind, 1, (_, n) => n + 1);
            handler.OnDatagram(datagram);
        }

        public void OnReceiveIdle() => handler.OnReceiveIdle();
    }
}
