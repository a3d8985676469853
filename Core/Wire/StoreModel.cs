using ProtoBuf;
using ProtoBuf.Meta;
using ProtoBuf.Serializers;

namespace Multicast.Wire;

/// <summary>
/// The protobuf-net model of the store messages (<c>StoreMessages.cs</c>): a model of our own, so the application's
/// <see cref="RuntimeTypeModel.Default"/> settings cannot change the wire, with hand-written serializers for the
/// messages every commit carries (<see cref="Envelope"/>, <see cref="CommitRequest"/>, <see cref="Replicate"/>,
/// <see cref="SessionDelta"/>, <see cref="SessionCopy"/>, <see cref="Attribute"/>). They write exactly the bytes the attribute-driven model
/// writes (StoreModelTests compares every field) at about two thirds of its cost: the compiled model pays for each
/// nested message and each absent member, which is most of a commit (tools/Bench codec, docs/wire-format.md).
/// </summary>
/// <remarks>A member added to one of these six contracts must be added here too: StoreModelTests fails until it is.</remarks>
internal static class StoreModel
{
    private const SerializerFeatures Message = SerializerFeatures.CategoryMessage | SerializerFeatures.WireTypeString;

    public static TypeModel Instance { get; } = Create();

    private static RuntimeTypeModel Create()
    {
        var model = RuntimeTypeModel.Create("Multicast.Wire");
        foreach (var contract in typeof(Envelope).Assembly.GetTypes())
        {
            if (contract.Namespace == typeof(Envelope).Namespace && contract.IsDefined(typeof(ProtoContractAttribute), false))
                model.Add(contract, true);
        }
        model[typeof(Envelope)].SerializerType = typeof(EnvelopeSerializer);
        model[typeof(CommitRequest)].SerializerType = typeof(CommitRequestSerializer);
        model[typeof(Replicate)].SerializerType = typeof(ReplicateSerializer);
        model[typeof(SessionDelta)].SerializerType = typeof(SessionDeltaSerializer);
        model[typeof(SessionCopy)].SerializerType = typeof(SessionCopySerializer);
        model[typeof(Attribute)].SerializerType = typeof(AttributeSerializer);
        model.CompileInPlace();
        return model;
    }

    // Null: the body's serializer comes from the model (the compiled one, for the bodies not written by hand here).
    private static void Body<T>(ref ProtoWriter.State state, int field, T? body, ISerializer<T>? serializer = null)
        where T : class
    {
        if (body is not null)
            state.WriteMessage(field, Message, body, serializer!);
    }

    private static T Body<T>(ref ProtoReader.State state, T? body, ISerializer<T>? serializer = null)
        where T : class => state.ReadMessage(Message, body!, serializer!);

    private static void Write(ref ProtoWriter.State state, int field, string? value)
    {
        if (value is null)
            return;
        state.WriteFieldHeader(field, WireType.String);
        state.WriteString(value);
    }

    private static void Write(ref ProtoWriter.State state, int field, long value)
    {
        if (value == 0)
            return;
        state.WriteFieldHeader(field, WireType.Varint);
        state.WriteInt64(value);
    }

    private static void Write(ref ProtoWriter.State state, int field, ulong value)
    {
        if (value == 0)
            return;
        state.WriteFieldHeader(field, WireType.Varint);
        state.WriteUInt64(value);
    }

    private static void Write(ref ProtoWriter.State state, int field, bool value)
    {
        if (!value)
            return;
        state.WriteFieldHeader(field, WireType.Varint);
        state.WriteBoolean(true);
    }

    internal sealed class EnvelopeSerializer : ISerializer<Envelope>
    {
        public SerializerFeatures Features => Message;

        public void Write(ref ProtoWriter.State state, Envelope value)
        {
            if (value.Version != 0)
            {
                state.WriteFieldHeader(1, WireType.Varint);
                state.WriteUInt32(value.Version);
            }
            Body(ref state, 10, value.LockRequest);
            Body(ref state, 11, value.LockReply);
            Body(ref state, 12, value.LockRelease);
            Body(ref state, 13, value.LockCancel);
            Body(ref state, 14, value.CommitRequest, CommitRequestSerializer.Instance);
            Body(ref state, 15, value.CommitReply);
            Body(ref state, 16, value.Replicate, ReplicateSerializer.Instance);
            Body(ref state, 17, value.ReplicateAck);
            Body(ref state, 18, value.ReadRequest);
            Body(ref state, 19, value.ReadReply);
            Body(ref state, 20, value.Touch);
            Body(ref state, 21, value.PrimaryState);
            Body(ref state, 22, value.Digest);
            Body(ref state, 23, value.FetchRequest);
            Body(ref state, 24, value.FetchReply);
            Body(ref state, 25, value.ReconcileDone);
            Body(ref state, 26, value.HoldRequest);
            Body(ref state, 27, value.HoldReply);
            Body(ref state, 28, value.OutcomeRequest);
            Body(ref state, 29, value.OutcomeReply);
            Body(ref state, 30, value.MemberReady);
            Body(ref state, 31, value.LeaseCheck);
            Body(ref state, 32, value.LeaseReply);
            Body(ref state, 33, value.DigestAsk);
            Body(ref state, 34, value.ReconcileAck);
        }

        public Envelope Read(ref ProtoReader.State state, Envelope value)
        {
            value ??= new Envelope();
            int field;
            while ((field = state.ReadFieldHeader()) > 0)
            {
                switch (field)
                {
                    case 1: value.Version = state.ReadUInt32(); break;
                    case 10: value.LockRequest = Body(ref state, value.LockRequest); break;
                    case 11: value.LockReply = Body(ref state, value.LockReply); break;
                    case 12: value.LockRelease = Body(ref state, value.LockRelease); break;
                    case 13: value.LockCancel = Body(ref state, value.LockCancel); break;
                    case 14: value.CommitRequest = Body(ref state, value.CommitRequest, CommitRequestSerializer.Instance); break;
                    case 15: value.CommitReply = Body(ref state, value.CommitReply); break;
                    case 16: value.Replicate = Body(ref state, value.Replicate, ReplicateSerializer.Instance); break;
                    case 17: value.ReplicateAck = Body(ref state, value.ReplicateAck); break;
                    case 18: value.ReadRequest = Body(ref state, value.ReadRequest); break;
                    case 19: value.ReadReply = Body(ref state, value.ReadReply); break;
                    case 20: value.Touch = Body(ref state, value.Touch); break;
                    case 21: value.PrimaryState = Body(ref state, value.PrimaryState); break;
                    case 22: value.Digest = Body(ref state, value.Digest); break;
                    case 23: value.FetchRequest = Body(ref state, value.FetchRequest); break;
                    case 24: value.FetchReply = Body(ref state, value.FetchReply); break;
                    case 25: value.ReconcileDone = Body(ref state, value.ReconcileDone); break;
                    case 26: value.HoldRequest = Body(ref state, value.HoldRequest); break;
                    case 27: value.HoldReply = Body(ref state, value.HoldReply); break;
                    case 28: value.OutcomeRequest = Body(ref state, value.OutcomeRequest); break;
                    case 29: value.OutcomeReply = Body(ref state, value.OutcomeReply); break;
                    case 30: value.MemberReady = Body(ref state, value.MemberReady); break;
                    case 31: value.LeaseCheck = Body(ref state, value.LeaseCheck); break;
                    case 32: value.LeaseReply = Body(ref state, value.LeaseReply); break;
                    case 33: value.DigestAsk = Body(ref state, value.DigestAsk); break;
                    case 34: value.ReconcileAck = Body(ref state, value.ReconcileAck); break;
                    default: state.SkipField(); break;
                }
            }
            return value;
        }
    }

    internal sealed class CommitRequestSerializer : ISerializer<CommitRequest>
    {
        public static readonly CommitRequestSerializer Instance = new();

        public SerializerFeatures Features => Message;

        public void Write(ref ProtoWriter.State state, CommitRequest value)
        {
            StoreModel.Write(ref state, 1, value.RequestId);
            Body(ref state, 2, value.Delta, SessionDeltaSerializer.Instance);
            StoreModel.Write(ref state, 3, value.Release);
        }

        public CommitRequest Read(ref ProtoReader.State state, CommitRequest value)
        {
            value ??= new CommitRequest();
            int field;
            while ((field = state.ReadFieldHeader()) > 0)
            {
                switch (field)
                {
                    case 1: value.RequestId = state.ReadUInt64(); break;
                    case 2: value.Delta = Body(ref state, value.Delta, SessionDeltaSerializer.Instance); break;
                    case 3: value.Release = state.ReadBoolean(); break;
                    default: state.SkipField(); break;
                }
            }
            return value;
        }
    }

    internal sealed class ReplicateSerializer : ISerializer<Replicate>
    {
        public static readonly ReplicateSerializer Instance = new();

        public SerializerFeatures Features => Message;

        public void Write(ref ProtoWriter.State state, Replicate value)
        {
            StoreModel.Write(ref state, 1, value.ReplicationId);
            StoreModel.Write(ref state, 2, value.Epoch);
            foreach (var delta in value.Deltas)
                Body(ref state, 3, delta, SessionDeltaSerializer.Instance);
            foreach (var copy in value.Copies)
                Body(ref state, 4, copy, SessionCopySerializer.Instance);
            StoreModel.Write(ref state, 5, value.AckRequested);
        }

        public Replicate Read(ref ProtoReader.State state, Replicate value)
        {
            value ??= new Replicate();
            int field;
            while ((field = state.ReadFieldHeader()) > 0)
            {
                switch (field)
                {
                    case 1: value.ReplicationId = state.ReadUInt64(); break;
                    case 2: value.Epoch = state.ReadInt64(); break;
                    case 3: value.Deltas.Add(Body<SessionDelta>(ref state, null, SessionDeltaSerializer.Instance)); break;
                    case 4: value.Copies.Add(Body<SessionCopy>(ref state, null, SessionCopySerializer.Instance)); break;
                    case 5: value.AckRequested = state.ReadBoolean(); break;
                    default: state.SkipField(); break;
                }
            }
            return value;
        }
    }

    internal sealed class SessionDeltaSerializer : ISerializer<SessionDelta>
    {
        public static readonly SessionDeltaSerializer Instance = new();

        public SerializerFeatures Features => Message;

        public void Write(ref ProtoWriter.State state, SessionDelta value)
        {
            StoreModel.Write(ref state, 1, value.Id);
            StoreModel.Write(ref state, 2, value.BaseVersion);
            StoreModel.Write(ref state, 3, value.Version);
            StoreModel.Write(ref state, 4, value.Epoch);
            StoreModel.Write(ref state, 5, value.Token);
            StoreModel.Write(ref state, 6, value.Writer);
            StoreModel.Write(ref state, 7, value.CommitId);
            foreach (var attribute in value.Set)
                Body(ref state, 8, attribute, AttributeSerializer.Instance);
            foreach (var key in value.RemovedKeys)
                StoreModel.Write(ref state, 9, key);
            StoreModel.Write(ref state, 10, value.LastAccessMs);
            StoreModel.Write(ref state, 11, value.IdleTimeoutMs);
            StoreModel.Write(ref state, 12, value.IsNew);
            StoreModel.Write(ref state, 13, value.CreatedMs);
            StoreModel.Write(ref state, 14, value.Removal);
            StoreModel.Write(ref state, 15, (long)value.RemovalReason);
        }

        public SessionDelta Read(ref ProtoReader.State state, SessionDelta value)
        {
            value ??= new SessionDelta();
            int field;
            while ((field = state.ReadFieldHeader()) > 0)
            {
                switch (field)
                {
                    case 1: value.Id = state.ReadString(); break;
                    case 2: value.BaseVersion = state.ReadInt64(); break;
                    case 3: value.Version = state.ReadInt64(); break;
                    case 4: value.Epoch = state.ReadInt64(); break;
                    case 5: value.Token = state.ReadInt64(); break;
                    case 6: value.Writer = state.ReadString(); break;
                    case 7: value.CommitId = state.ReadUInt64(); break;
                    case 8: value.Set.Add(Body<Attribute>(ref state, null, AttributeSerializer.Instance)); break;
                    case 9: value.RemovedKeys.Add(state.ReadString()); break;
                    case 10: value.LastAccessMs = state.ReadInt64(); break;
                    case 11: value.IdleTimeoutMs = state.ReadInt64(); break;
                    case 12: value.IsNew = state.ReadBoolean(); break;
                    case 13: value.CreatedMs = state.ReadInt64(); break;
                    case 14: value.Removal = state.ReadBoolean(); break;
                    case 15: value.RemovalReason = (RemovalReason)state.ReadInt32(); break;
                    default: state.SkipField(); break;
                }
            }
            return value;
        }
    }

    internal sealed class SessionCopySerializer : ISerializer<SessionCopy>
    {
        public static readonly SessionCopySerializer Instance = new();

        public SerializerFeatures Features => Message;

        public void Write(ref ProtoWriter.State state, SessionCopy value)
        {
            StoreModel.Write(ref state, 1, value.Id);
            StoreModel.Write(ref state, 2, value.Version);
            StoreModel.Write(ref state, 3, value.Epoch);
            StoreModel.Write(ref state, 4, value.Token);
            StoreModel.Write(ref state, 5, value.Writer);
            StoreModel.Write(ref state, 6, value.CreatedMs);
            StoreModel.Write(ref state, 7, value.LastAccessMs);
            StoreModel.Write(ref state, 8, value.IdleTimeoutMs);
            foreach (var attribute in value.Attributes)
                Body(ref state, 9, attribute, AttributeSerializer.Instance);
            StoreModel.Write(ref state, 10, value.Removed);
            // Not packed, as the attribute-driven model writes a List<ulong>; every element is written, zeros too.
            foreach (var commit in value.RecentCommits)
            {
                state.WriteFieldHeader(11, WireType.Varint);
                state.WriteUInt64(commit);
            }
        }

        public SessionCopy Read(ref ProtoReader.State state, SessionCopy value)
        {
            value ??= new SessionCopy();
            int field;
            while ((field = state.ReadFieldHeader()) > 0)
            {
                switch (field)
                {
                    case 1: value.Id = state.ReadString(); break;
                    case 2: value.Version = state.ReadInt64(); break;
                    case 3: value.Epoch = state.ReadInt64(); break;
                    case 4: value.Token = state.ReadInt64(); break;
                    case 5: value.Writer = state.ReadString(); break;
                    case 6: value.CreatedMs = state.ReadInt64(); break;
                    case 7: value.LastAccessMs = state.ReadInt64(); break;
                    case 8: value.IdleTimeoutMs = state.ReadInt64(); break;
                    case 9: value.Attributes.Add(Body<Attribute>(ref state, null, AttributeSerializer.Instance)); break;
                    case 10: value.Removed = state.ReadBoolean(); break;
                    case 11 when state.WireType == WireType.String: ReadPacked(state.AppendBytes(null!), value.RecentCommits); break;
                    case 11: value.RecentCommits.Add(state.ReadUInt64()); break;
                    default: state.SkipField(); break;
                }
            }
            return value;
        }

        // A packed list (another writer may pack it): varints back to back.
        private static void ReadPacked(byte[] packed, List<ulong> into)
        {
            var at = 0;
            while (at < packed.Length)
            {
                ulong value = 0;
                for (var shift = 0; ; shift += 7)
                {
                    if (at >= packed.Length || shift > 63)
                        throw new ProtoException("A packed varint is truncated or too long");
                    var b = packed[at++];
                    value |= (ulong)(b & 0x7F) << shift;
                    if (b < 0x80)
                        break;
                }
                into.Add(value);
            }
        }
    }

    internal sealed class AttributeSerializer : ISerializer<Attribute>
    {
        public static readonly AttributeSerializer Instance = new();

        public SerializerFeatures Features => Message;

        public void Write(ref ProtoWriter.State state, Attribute value)
        {
            StoreModel.Write(ref state, 1, value.Key);
            if (value.Value is not null)
            {
                state.WriteFieldHeader(2, WireType.String);
                state.WriteBytes(value.Value);
            }
        }

        public Attribute Read(ref ProtoReader.State state, Attribute value)
        {
            value ??= new Attribute();
            int field;
            while ((field = state.ReadFieldHeader()) > 0)
            {
                switch (field)
                {
                    case 1: value.Key = state.ReadString(); break;
                    case 2: value.Value = state.AppendBytes(value.Value); break;
                    default: state.SkipField(); break;
                }
            }
            return value;
        }
    }
}
