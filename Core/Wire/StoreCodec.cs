using Google.Protobuf;
using Multicast.Sessions;
using Multicast.Stores;

namespace Multicast.Wire;

/// <summary>
/// Encodes and decodes store messages. Decoding enforces length and count limits and never throws:
/// a malformed message is reported as such, so the receive path can drop and count it.
/// </summary>
internal static class StoreCodec
{
    public const uint Version = 1;
    public const int MaxSessionIdLength = 64;
    public const int MaxKeyLength = 1024;
    public const int MaxAttributes = 65_536;
    public const int MaxNodeIdLength = 256;
    public const int MaxMessageBytes = 256 * 1024 * 1024;

    public static byte[] Encode(Envelope envelope)
    {
        envelope.Version = Version;
        return envelope.ToByteArray();
    }

    public static bool TryDecode(ReadOnlySpan<byte> payload, int maxSessionBytes, out Envelope envelope)
    {
        envelope = null!;
        if (payload.Length == 0 || payload.Length > MaxMessageBytes)
            return false;
        try
        {
            envelope = Envelope.Parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException)
        {
            return false;
        }
        return envelope.Version == Version && envelope.BodyCase != Envelope.BodyOneofCase.None && IsValid(envelope, maxSessionBytes);
    }

    private static bool IsValid(Envelope e, int maxSessionBytes) => e.BodyCase switch
    {
        Envelope.BodyOneofCase.Update => IsValid(e.Update, maxSessionBytes),
        Envelope.BodyOneofCase.Commit => e.Commit.Update is not null && IsValid(e.Commit.Update, maxSessionBytes),
        Envelope.BodyOneofCase.LockRequest => IsId(e.LockRequest.SessionId),
        Envelope.BodyOneofCase.LockReply => IsId(e.LockReply.SessionId) && (e.LockReply.State is null || IsValid(e.LockReply.State, maxSessionBytes)),
        Envelope.BodyOneofCase.Release => IsId(e.Release.SessionId),
        Envelope.BodyOneofCase.LockCancel => IsId(e.LockCancel.SessionId),
        Envelope.BodyOneofCase.CommitReply => IsId(e.CommitReply.SessionId),
        Envelope.BodyOneofCase.SyncRequest => IsId(e.SyncRequest.SessionId),
        Envelope.BodyOneofCase.SyncReply => e.SyncReply.State is not null && IsValid(e.SyncReply.State, maxSessionBytes),
        Envelope.BodyOneofCase.StateChunk => e.StateChunk.Sessions.All(u => IsValid(u, maxSessionBytes)),
        Envelope.BodyOneofCase.Touch => e.Touch.Entries.Count <= MaxAttributes && e.Touch.Entries.All(t => IsId(t.SessionId)),
        Envelope.BodyOneofCase.Replicate => e.Replicate.Updates.All(u => IsValid(u, maxSessionBytes)),
        Envelope.BodyOneofCase.HoldRequest => e.HoldRequest.Entries.Count <= MaxAttributes && e.HoldRequest.Entries.All(h => IsId(h.SessionId)),
        Envelope.BodyOneofCase.HoldReply => e.HoldReply.Held.Count <= MaxAttributes && e.HoldReply.Held.All(IsId),
        _ => true,
    };

    private static bool IsId(string id) => id.Length is > 0 and <= MaxSessionIdLength;

    private static bool IsValid(Update u, int maxSessionBytes)
    {
        if (!IsId(u.SessionId) || u.Writer.Length > MaxNodeIdLength || u.Version < 0 || u.BaseVersion < 0)
            return false;
        if (u.Set.Count > MaxAttributes || u.Removed.Count > MaxAttributes || u.IdleTimeoutMs < 0)
            return false;
        long size = 0;
        foreach (var a in u.Set)
        {
            if (a.Key.Length > MaxKeyLength)
                return false;
            size += a.Key.Length + a.Value.Length;
        }
        foreach (var k in u.Removed)
        {
            if (k.Length > MaxKeyLength)
                return false;
        }
        // A delta may legitimately be no larger than the session limit; anything above is refused at the door.
        return size <= maxSessionBytes;
    }

    public static Update ToFull(SessionState r)
    {
        var u = new Update
        {
            SessionId = r.Id,
            BaseVersion = 0,
            Version = r.Version,
            Token = r.Token,
            Writer = r.LastWriter,
            Full = true,
            Exists = true,
            CreatedMs = r.CreatedAt.ToUnixTimeMilliseconds(),
            LastAccessMs = r.LastAccessedAt.ToUnixTimeMilliseconds(),
            IdleTimeoutMs = (long)r.IdleTimeout.TotalMilliseconds,
        };
        foreach (var (k, v) in r.Attributes)
            u.Set.Add(new Attribute { Key = k, Value = ByteString.CopyFrom(v) });
        return u;
    }

    public static Update Missing(string id) => new() { SessionId = id, Exists = false, Full = true };

    /// <summary>Applies <paramref name="u"/> to <paramref name="current"/> (a delta needs its base; a full update replaces).</summary>
    public static SessionState Apply(SessionState? current, Update u)
    {
        Dictionary<string, byte[]> attributes;
        if (u.Full || current is null)
        {
            attributes = new Dictionary<string, byte[]>(u.Set.Count, StringComparer.Ordinal);
        }
        else
        {
            attributes = new Dictionary<string, byte[]>(current.Attributes.Count + u.Set.Count, StringComparer.Ordinal);
            foreach (var (k, v) in current.Attributes)
                attributes[k] = v;
            foreach (var k in u.Removed)
                attributes.Remove(k);
        }
        foreach (var a in u.Set)
            attributes[a.Key] = a.Value.ToByteArray();
        return new SessionState
        {
            Id = u.SessionId,
            Attributes = attributes,
            Version = u.Version,
            Token = Math.Max(u.Token, current?.Token ?? 0),
            CreatedAt = u.CreatedMs != 0 ? DateTimeOffset.FromUnixTimeMilliseconds(u.CreatedMs) : current?.CreatedAt ?? default,
            LastAccessedAt = DateTimeOffset.FromUnixTimeMilliseconds(Math.Max(u.LastAccessMs, current?.LastAccessedAt.ToUnixTimeMilliseconds() ?? 0)),
            IdleTimeout = u.IdleTimeoutMs > 0 ? TimeSpan.FromMilliseconds(u.IdleTimeoutMs) : current?.IdleTimeout ?? SessionOptions.DefaultIdleTimeout,
            LastWriter = u.Writer,
            Size = SessionState.SizeOf(attributes),
        };
    }

    /// <summary>The update a request's changes make (a delta, or the whole session when it is new).</summary>
    public static Update FromSession(Session s, string writer, long token, DateTimeOffset now)
    {
        var r = s.State;
        var u = new Update
        {
            SessionId = s.Id,
            BaseVersion = r.Version,
            Version = r.Version + 1,
            Token = token,
            Writer = writer,
            Exists = true,
            Full = s.IsNew,
            CreatedMs = r.CreatedAt.ToUnixTimeMilliseconds(),
            LastAccessMs = now.ToUnixTimeMilliseconds(),
            IdleTimeoutMs = (long)s.IdleTimeout.TotalMilliseconds,
        };
        if (s.IsNew)
        {
            foreach (var k in s.Keys)
            {
                s.TryGetValue(k, out var v);
                u.Set.Add(new Attribute { Key = k, Value = ByteString.CopyFrom(v) });
            }
            return u;
        }
        foreach (var (k, v) in s.Changes.Set)
            u.Set.Add(new Attribute { Key = k, Value = ByteString.CopyFrom(v) });
        u.Removed.AddRange(s.Changes.Removed);
        return u;
    }

    /// <summary>The size the session would have after <paramref name="u"/>, without building it.</summary>
    public static long SizeAfter(SessionState? current, Update u)
    {
        if (u.Full || current is null)
            return u.Set.Sum(a => (long)System.Text.Encoding.UTF8.GetByteCount(a.Key) + a.Value.Length);
        long size = current.Size;
        foreach (var k in u.Removed)
        {
            if (current.Attributes.TryGetValue(k, out var v))
                size -= SessionState.SizeOf(k, v);
        }
        foreach (var a in u.Set)
        {
            if (current.Attributes.TryGetValue(a.Key, out var v) && !u.Removed.Contains(a.Key))
                size -= SessionState.SizeOf(a.Key, v);
            size += System.Text.Encoding.UTF8.GetByteCount(a.Key) + a.Value.Length;
        }
        return size;
    }
}
