using System.Collections;
using System.Reflection;
using Multicast.Wire;
using ProtoBuf;
using ProtoBuf.Meta;
using Attribute = Multicast.Wire.Attribute;

namespace Multicast.Tests.Wire;

/// <summary>
/// The hand-written serializers of <see cref="StoreModel"/> against the attribute-driven model of the same contracts:
/// the same bytes for every member, and every member read back. A member added to a contract and not to its
/// serializer fails here.
/// </summary>
public sealed class StoreModelTests
{
    private static readonly Type[] HandWritten =
        [typeof(Envelope), typeof(CommitRequest), typeof(Replicate), typeof(SessionDelta), typeof(SessionCopy), typeof(Attribute)];

    private static readonly RuntimeTypeModel AttributeModel = CreateAttributeModel();

    [TestCaseSource(nameof(HandWritten))]
    public void Serialize_EveryMemberSet_WritesWhatTheAttributeModelWrites(Type type)
    {
        var value = Filled(type, seed: 1, depth: 0);

        var sut = Serialize(StoreModel.Instance, value);

        Assert.That(sut, Is.EqualTo(Serialize(AttributeModel, value)));
    }

    [TestCaseSource(nameof(HandWritten))]
    public void Deserialize_WhatTheAttributeModelWrote_ReadsEveryMember(Type type)
    {
        var written = Serialize(AttributeModel, Filled(type, seed: 2, depth: 0));

        var sut = StoreModel.Instance.Deserialize(new MemoryStream(written), null, type);

        Assert.That(Serialize(AttributeModel, sut), Is.EqualTo(written));
    }

    [Test]
    public void Serialize_EmptyStringsAndValues_WritesWhatTheAttributeModelWrites()
    {
        var delta = new SessionDelta { Id = "", Writer = "", Set = [new Attribute { Key = "", Value = [] }], RemovedKeys = [""] };
        var copy = new SessionCopy { Attributes = [new Attribute()], RecentCommits = [0, 5] };
        var value = new Envelope { Replicate = new Replicate { Deltas = [delta], Copies = [copy] } };

        var sut = Serialize(StoreModel.Instance, value);

        Assert.That(sut, Is.EqualTo(Serialize(AttributeModel, value)));
    }

    [Test]
    public void Deserialize_PackedRecentCommits_ReadsThemAll()
    {
        var packing = CreateAttributeModel();
        packing[typeof(SessionCopy)][11].IsPacked = true;
        var written = Serialize(packing, new SessionCopy { Id = "s", RecentCommits = [1, 300, ulong.MaxValue] });

        var sut = (SessionCopy)StoreModel.Instance.Deserialize(new MemoryStream(written), null, typeof(SessionCopy));

        Assert.That(sut.RecentCommits, Is.EqualTo(new[] { 1UL, 300UL, ulong.MaxValue }));
    }

    private static RuntimeTypeModel CreateAttributeModel()
    {
        var model = RuntimeTypeModel.Create("attribute-driven");
        foreach (var type in typeof(Envelope).Assembly.GetTypes().Where(t => t.Namespace == typeof(Envelope).Namespace && t.IsDefined(typeof(ProtoContractAttribute), false)))
            model.Add(type, true);
        return model;
    }

    private static byte[] Serialize(TypeModel model, object value)
    {
        var stream = new MemoryStream();
        model.Serialize(stream, value);
        return stream.ToArray();
    }

    /// <summary>An instance with every [ProtoMember] set to a value other than its default (lists of two), nested contracts too.</summary>
    private static object Filled(Type type, int seed, int depth)
    {
        var value = Activator.CreateInstance(type)!;
        foreach (var property in type.GetProperties())
        {
            if (property.GetCustomAttribute<ProtoMemberAttribute>() is not { } member)
                continue;
            var tag = member.Tag;
            if (property.PropertyType.IsGenericType && property.PropertyType.GetGenericTypeDefinition() == typeof(List<>))
            {
                var list = (IList)property.GetValue(value)!;
                var item = property.PropertyType.GetGenericArguments()[0];
                if (Scalar(item, tag, seed, depth) is { } first)
                {
                    list.Add(first);
                    list.Add(Scalar(item, tag, seed + 1, depth)!);
                }
            }
            else if (Scalar(property.PropertyType, tag, seed, depth) is { } scalar)
            {
                property.SetValue(value, scalar);
            }
        }
        return value;
    }

    private static object? Scalar(Type type, int tag, int seed, int depth)
    {
        var number = (tag * 1000) + seed;
        return type switch
        {
            _ when type == typeof(string) => $"s{tag}-{seed}",
            _ when type == typeof(long) => (long)number,
            _ when type == typeof(ulong) => (ulong)number,
            _ when type == typeof(int) => number,
            _ when type == typeof(uint) => (uint)number,
            _ when type == typeof(bool) => true,
            _ when type == typeof(byte[]) => Enumerable.Range(0, tag + seed).Select(i => (byte)(i * 7)).ToArray(),
            _ when type.IsEnum => Enum.GetValues(type).Cast<object>().Last(),
            _ when type.IsDefined(typeof(ProtoContractAttribute), false) => depth < 4 ? Filled(type, seed + 1, depth + 1) : null,
            _ => throw new NotSupportedException($"no test value for {type}"),
        };
    }
}
