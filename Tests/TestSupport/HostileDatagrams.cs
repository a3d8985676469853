using System.Buffers.Binary;
using System.Collections.Concurrent;
using Multicast.Messaging;
using Multicast.Messaging.Internal;

namespace Multicast.Tests.TestSupport;

/// <summary>
/// Builds the channel datagrams an attacker without the cluster key can send: unauthenticated (a keyed node rejects
/// them as forged), from a stranger or in a member's name (its node id hash and incarnation, which anyone on the
/// network reads off its headers), with a counter just above the last one <see cref="Observe"/> saw from it so the
/// receiver's replay window takes it.
/// </summary>
internal sealed class HostileDatagrams(string clusterId)
{
    private readonly uint _cluster = Fnv.Hash32(clusterId);
    private readonly ConcurrentDictionary<uint, long> _counters = new();
    private readonly ConcurrentDictionary<uint, long> _broadcastEpochs = new();
    private readonly ConcurrentDictionary<(uint Sender, long Target), long> _unicastEpochs = new();
    private long _next = 1;

    /// <summary>How far above the last counter seen from a member a datagram in its name is numbered: beyond the
    /// datagrams it sent meanwhile that the sniffer did not see (its unicasts), within the receiver's replay window.</summary>
    public long CounterLead { get; init; } = 500;

    /// <summary>A member nobody knows.</summary>
    public static Member Stranger { get; } = new("stranger", 1_000_000, "mem://nowhere", "");

    /// <summary>Feeds a sniffed datagram (e.g. from <c>InMemoryHub.Tap</c>): remembers its sender's counter and the epochs
    /// of the streams it sends (the broadcast stream's from its data and heartbeats, a unicast stream's from its data).</summary>
    public void Observe(ReadOnlySpan<byte> datagram)
    {
        if (!PacketHeader.TryRead(datagram, out var header))
            return;
        _counters.AddOrUpdate(header.SenderHash, header.Counter, (_, old) => Math.Max(old, header.Counter));
        if (header.Kind is PacketKind.Data or PacketKind.Heartbeat)
            _broadcastEpochs.AddOrUpdate(header.SenderHash, header.StreamEpoch, (_, old) => Math.Max(old, header.StreamEpoch));
        else if (header.Kind == PacketKind.UnicastData)
            _unicastEpochs.AddOrUpdate((header.SenderHash, header.TargetIncarnation), header.StreamEpoch, (_, old) => Math.Max(old, header.StreamEpoch));
    }

    /// <summary>The epoch of <paramref name="member"/>'s broadcast stream last sniffed (0: none seen).</summary>
    public long BroadcastEpochOf(Member member) => _broadcastEpochs.GetValueOrDefault(Fnv.Hash32(member.NodeId));

    /// <summary>The epoch of <paramref name="from"/>'s unicast stream to <paramref name="to"/> last sniffed (0: none seen, e.g.
    /// an attacker who only hears the group).</summary>
    public long UnicastEpochOf(Member from, Member to) => _unicastEpochs.GetValueOrDefault((Fnv.Hash32(from.NodeId), to.Incarnation));

    /// <summary>Whether <see cref="Observe"/> saw a datagram of <paramref name="member"/>.</summary>
    public bool HasSeen(Member member) => _counters.ContainsKey(Fnv.Hash32(member.NodeId));

    public byte[] Build(Member sender, PacketKind kind, ReadOnlySpan<byte> payload, long sequence = 0, long messageSequence = 0,
        uint fragmentIndex = 0, uint fragmentCount = 0, long targetIncarnation = 0, long streamEpoch = 0)
    {
        var hash = Fnv.Hash32(sender.NodeId);
        var header = new PacketHeader
        {
            Kind = kind,
            ClusterHash = _cluster,
            SenderHash = hash,
            Incarnation = sender.Incarnation,
            Counter = _counters.GetValueOrDefault(hash) + CounterLead + Interlocked.Increment(ref _next),
            Sequence = sequence,
            MessageSequence = messageSequence,
            FragmentIndex = fragmentIndex,
            FragmentCount = fragmentCount,
            TargetIncarnation = targetIncarnation,
            StreamEpoch = streamEpoch,
            PayloadLength = (ushort)payload.Length,
        };
        var datagram = new byte[PacketHeader.Size + payload.Length];
        header.Write(datagram);
        payload.CopyTo(datagram.AsSpan(PacketHeader.Size));
        return datagram;
    }

    /// <summary>A whole view in one datagram, sent in <paramref name="sender"/>'s name.</summary>
    public byte[] View(Member sender, long id, params Member[] members)
    {
        var payload = ViewCodec.EncodeView(new MembershipView(id, members));
        return Build(sender, PacketKind.View, payload, sequence: id, messageSequence: payload.Length, fragmentCount: 1);
    }

    public byte[] Join(Member joiner, long lastViewId)
    {
        var payload = ViewCodec.EncodeJoin(joiner, lastViewId, -1);
        return Build(joiner, PacketKind.Join, payload, sequence: lastViewId, messageSequence: payload.Length, fragmentCount: 1);
    }

    public byte[] Leave(Member sender, long incarnation, long epoch)
    {
        var payload = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(payload, incarnation);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(8), epoch);
        return Build(sender, PacketKind.Leave, payload);
    }

    /// <summary>A heartbeat claiming <paramref name="viewId"/> and <paramref name="coordinator"/>, with no streams.</summary>
    public byte[] Heartbeat(Member sender, long viewId, Member coordinator)
    {
        var payload = new byte[PayloadWriter.SizeOf(sender.NodeId) + PayloadWriter.SizeOf(sender.Address) + 8 + 4 + 8 + 1 + 2 + 2];
        var writer = new PayloadWriter(payload);
        writer.WriteString(sender.NodeId);
        writer.WriteString(sender.Address);
        writer.WriteInt64(viewId);
        writer.WriteUInt32(Fnv.Hash32(coordinator.NodeId));
        writer.WriteInt64(coordinator.Incarnation);
        writer.WriteByte(0);
        writer.WriteUInt16(0);
        writer.WriteUInt16(0);
        return Build(sender, PacketKind.Heartbeat, payload);
    }

    /// <summary>An acknowledgement of everything (<see cref="long.MaxValue"/>) of <paramref name="target"/>'s broadcast stream
    /// (of the epoch sniffed).</summary>
    public byte[] AckOfEverything(Member sender, Member target) =>
        Build(sender, PacketKind.Ack, [], sequence: long.MaxValue, messageSequence: long.MaxValue, targetIncarnation: target.Incarnation,
            streamEpoch: BroadcastEpochOf(target));

    /// <summary>A report to <paramref name="coordinator"/> that <paramref name="slow"/> holds <paramref name="sender"/>'s broadcast window.</summary>
    public byte[] Suspect(Member sender, Member slow, Member coordinator)
    {
        var payload = new byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, Fnv.Hash32(slow.NodeId));
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(4), slow.Incarnation);
        return Build(sender, PacketKind.Suspect, payload, targetIncarnation: coordinator.Incarnation);
    }

    /// <summary>A NAK for all of <paramref name="target"/>'s broadcast stream (or, when <paramref name="unicast"/>, of its
    /// unicast stream to <paramref name="sender"/>), of the stream epoch sniffed.</summary>
    public byte[] NakOfEverything(Member sender, Member target, bool unicast = false)
    {
        var payload = new byte[2 + 16];
        BinaryPrimitives.WriteUInt16LittleEndian(payload, 1);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(2), 1);
        BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(10), long.MaxValue);
        return Build(sender, PacketKind.Nak, payload, fragmentIndex: unicast ? 1u : 0u, targetIncarnation: target.Incarnation,
            streamEpoch: unicast ? UnicastEpochOf(target, sender) : BroadcastEpochOf(target));
    }
}
