using System.Text;
using Current = Multicast.Wire;
using Legacy = Multicast.Bench.Codec.Legacy;

namespace Multicast.Bench.Codec;

/// <summary>One store message as each codec carries it: the same content in the current (protobuf-net) and the old (Google.Protobuf) contracts.</summary>
internal sealed record CodecMessage(string Name, Current.Envelope Current, Legacy.Envelope Legacy);

/// <summary>
/// The messages the codec benchmark encodes and decodes: a commit with a delta of a given size, a lock request, and a
/// state-transfer chunk of whole sessions. <see cref="Describe(Current.Envelope)"/> renders the content both formats
/// carry, so a round trip through either codec can be compared with the other.
/// </summary>
internal static class CodecMessages
{
    private const string SessionId = "Yv3xQm9kTq2LwZr7HbN4sA";
    private const string Writer = "node-2";
    private const long CreatedMs = 1_764_000_000_000;
    private const long LastAccessMs = 1_764_000_360_000;

    /// <summary>The commit (a delta of <paramref name="deltaBytes"/> over four attributes, one key removed), a lock request, and a chunk of <paramref name="chunkSessions"/> sessions of <paramref name="deltaBytes"/> each.</summary>
    public static IReadOnlyList<CodecMessage> Create(int deltaBytes, int chunkSessions) =>
        [Commit(deltaBytes), LockRequest(), StateChunk(deltaBytes, chunkSessions)];

    public static CodecMessage Commit(int deltaBytes)
    {
        var set = Attributes(deltaBytes, 4, seed: 1);
        var delta = new Current.SessionDelta
        {
            Id = SessionId,
            BaseVersion = 41,
            Version = 42,
            Epoch = 3,
            Token = 100_663_302,
            Writer = Writer,
            CommitId = 0x5EED_0000_0000_002A,
            LastAccessMs = LastAccessMs,
            CreatedMs = CreatedMs,
            Set = [.. set.Select(a => new Current.Attribute { Key = a.Key, Value = a.Value })],
            RemovedKeys = ["checkout:step"],
        };
        var update = new Legacy.Update
        {
            SessionId = SessionId,
            BaseVersion = 41,
            Version = 42,
            Token = 100_663_302,
            Writer = Writer,
            Exists = true,
            CreatedMs = CreatedMs,
            LastAccessMs = LastAccessMs,
        };
        update.Set.AddRange(set.Select(a => new Legacy.Attribute { Key = a.Key, Value = Google.Protobuf.ByteString.CopyFrom(a.Value) }));
        update.Removed.Add("checkout:step");
        return new CodecMessage(
            $"commit_{Size(deltaBytes)}",
            new Current.Envelope { CommitRequest = new Current.CommitRequest { RequestId = 7_001, Delta = delta, Release = true } },
            new Legacy.Envelope { Commit = new Legacy.Commit { RequestId = 7_001, Update = update, Release = true } });
    }

    public static CodecMessage LockRequest() => new(
        "lock_request",
        new Current.Envelope { LockRequest = new Current.LockRequest { RequestId = 7_000, SessionId = SessionId, Policy = Current.ConflictPolicy.Wait, KnownVersion = 41, KnownEpoch = 3 } },
        new Legacy.Envelope { LockRequest = new Legacy.LockRequest { RequestId = 7_000, SessionId = SessionId, Policy = 0, KnownVersion = 41 } });

    /// <summary>A state-transfer chunk: today a <see cref="Current.Replicate"/> of whole copies (what a reconciliation push sends), before a StateChunk of full updates.</summary>
    public static CodecMessage StateChunk(int sessionBytes, int sessions)
    {
        var replicate = new Current.Replicate { ReplicationId = 9_000, Epoch = 3, AckRequested = true };
        var chunk = new Legacy.StateChunk { TransferId = 9_000, TotalSessions = sessions * 10 };
        for (var i = 0; i < sessions; i++)
        {
            var id = $"{SessionId[..16]}{i:D6}";
            var data = Attributes(sessionBytes, 1, seed: 100 + i)[0];
            replicate.Copies.Add(new Current.SessionCopy
            {
                Id = id,
                Version = 10 + i,
                Epoch = 3,
                Token = 1_000 + i,
                Writer = Writer,
                CreatedMs = CreatedMs,
                LastAccessMs = LastAccessMs,
                IdleTimeoutMs = 1_200_000,
                Attributes = [new Current.Attribute { Key = data.Key, Value = data.Value }],
            });
            var update = new Legacy.Update
            {
                SessionId = id,
                Version = 10 + i,
                Token = 1_000 + i,
                Writer = Writer,
                Full = true,
                Exists = true,
                CreatedMs = CreatedMs,
                LastAccessMs = LastAccessMs,
                IdleTimeoutMs = 1_200_000,
            };
            update.Set.Add(new Legacy.Attribute { Key = data.Key, Value = Google.Protobuf.ByteString.CopyFrom(data.Value) });
            chunk.Sessions.Add(update);
        }
        return new CodecMessage($"state_chunk_{sessions}x{Size(sessionBytes)}", new Current.Envelope { Replicate = replicate }, new Legacy.Envelope { StateChunk = chunk });
    }

    /// <summary>The content both formats carry (ids, versions, tokens, writer, attributes, removed keys), one line per session.</summary>
    public static string Describe(Current.Envelope e)
    {
        var text = new StringBuilder();
        if (e.CommitRequest is { Delta: var d } commit)
            Line(text, $"commit {commit.RequestId} release={commit.Release}", d.Id, d.BaseVersion, d.Version, d.Token, d.Writer, d.LastAccessMs, d.Set.Select(a => (a.Key, a.Value)), d.RemovedKeys);
        if (e.LockRequest is { } lr)
            text.Append(FormattableString.Invariant($"lock {lr.RequestId} {lr.SessionId} policy={(int)lr.Policy} known={lr.KnownVersion}\n"));
        if (e.Replicate is { } r)
        {
            foreach (var c in r.Copies)
                Line(text, "copy", c.Id, 0, c.Version, c.Token, c.Writer, c.LastAccessMs, c.Attributes.Select(a => (a.Key, a.Value)), []);
        }
        return text.ToString();
    }

    /// <inheritdoc cref="Describe(Current.Envelope)"/>
    public static string Describe(Legacy.Envelope e)
    {
        var text = new StringBuilder();
        if (e.Commit is { Update: var u } commit)
            Line(text, $"commit {commit.RequestId} release={commit.Release}", u.SessionId, u.BaseVersion, u.Version, u.Token, u.Writer, u.LastAccessMs, u.Set.Select(a => (a.Key, a.Value.ToByteArray())), u.Removed);
        if (e.LockRequest is { } lr)
            text.Append(FormattableString.Invariant($"lock {lr.RequestId} {lr.SessionId} policy={lr.Policy} known={lr.KnownVersion}\n"));
        if (e.StateChunk is { } chunk)
        {
            foreach (var s in chunk.Sessions)
                Line(text, "copy", s.SessionId, s.BaseVersion, s.Version, s.Token, s.Writer, s.LastAccessMs, s.Set.Select(a => (a.Key, a.Value.ToByteArray())), []);
        }
        return text.ToString();
    }

    private static void Line(StringBuilder text, string kind, string id, long baseVersion, long version, long token, string writer, long lastAccessMs,
        IEnumerable<(string Key, byte[] Value)> set, IEnumerable<string> removed)
    {
        text.Append(FormattableString.Invariant($"{kind} {id} {baseVersion}->{version} token={token} by={writer} access={lastAccessMs} set=["));
        foreach (var (key, value) in set)
            text.Append(key).Append('=').Append(Convert.ToHexString(value)).Append(';');
        text.Append("] removed=[").AppendJoin(';', removed).Append("]\n");
    }

    private static List<(string Key, byte[] Value)> Attributes(int totalBytes, int count, int seed)
    {
        var random = new Random(seed);
        var attributes = new List<(string, byte[])>(count);
        for (var i = 0; i < count; i++)
        {
            var value = new byte[totalBytes / count + (i < totalBytes % count ? 1 : 0)];
            random.NextBytes(value);
            attributes.Add(($"cart:item:{i}", value));
        }
        return attributes;
    }

    private static string Size(int bytes) => bytes % 1024 == 0 ? $"{bytes / 1024}kib" : $"{bytes}b";
}
