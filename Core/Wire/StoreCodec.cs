using Multicast.Sessions;
using ProtoBuf;

namespace Multicast.Wire;

/// <summary>
/// Encodes and decodes store messages, and converts between them and session states. Decoding enforces length and
/// count limits and never throws: a malformed message is reported as such, so the receive path can drop and count it.
/// </summary>
internal static class StoreCodec
{
    public const uint Version = 2;
    public const int MaxSessionIdLength = 64;
    public const int MaxKeyLength = 1024;
    public const int MaxAttributes = 65_536;
    public const int MaxNodeIdLength = 256;
    public const int MaxEntries = 100_000;
    /// <summary>How many commit ids a session remembers (for "was my commit applied?" after a failover).</summary>
    public const int RecentCommitCount = 16;

    /// <summary>The largest scratch stream a thread keeps between encodes (a larger one, after a big state-transfer chunk, is let go).</summary>
    private const int MaxScratchBytes = 1024 * 1024;

    /// <summary>
    /// Each thread's encoding scratch: the message is written once into it and copied once into the exact-size result.
    /// A buffer writer instead costs a measuring pass per nested message (protobuf-net length-prefixes them up front);
    /// a new stream per message costs its growth (tools/Bench codec).
    /// </summary>
    [ThreadStatic]
    private static MemoryStream? s_scratch;

    public static byte[] Encode(Envelope envelope)
    {
        envelope.Version = Version;
        // Taken, not borrowed: should serialization ever re-enter Encode on this thread, the inner call gets its own.
        var scratch = s_scratch ?? new MemoryStream(4096);
        s_scratch = null;
        scratch.SetLength(0);
        StoreModel.Instance.Serialize(scratch, envelope);
        var encoded = scratch.ToArray();
        if (scratch.Capacity <= MaxScratchBytes)
            s_scratch = scratch;
        return encoded;
    }

    public static bool TryDecode(ReadOnlySpan<byte> payload, int maxSessionBytes, out Envelope envelope)
    {
        envelope = null!;
        if (payload.Length == 0)
            return false;
        try
        {
            envelope = StoreModel.Instance.Deserialize<Envelope>(payload);
        }
        catch (Exception ex) when (ex is ProtoException or EndOfStreamException or InvalidOperationException or OverflowException or ArgumentException)
        {
            return false;
        }
        return envelope is not null && envelope.Version == Version && CountBodies(envelope) == 1 && IsValid(envelope, maxSessionBytes);
    }

    // Without an array of the bodies: this runs for every message received.
    private static int CountBodies(Envelope e) =>
        One(e.LockRequest) + One(e.LockReply) + One(e.LockRelease) + One(e.LockCancel) + One(e.CommitRequest) + One(e.CommitReply)
        + One(e.Replicate) + One(e.ReplicateAck) + One(e.ReadRequest) + One(e.ReadReply) + One(e.Touch) + One(e.PrimaryState)
        + One(e.Digest) + One(e.FetchRequest) + One(e.FetchReply) + One(e.ReconcileDone) + One(e.HoldRequest) + One(e.HoldReply)
        + One(e.OutcomeRequest) + One(e.OutcomeReply) + One(e.MemberReady) + One(e.LeaseCheck) + One(e.LeaseReply)
        + One(e.DigestAsk) + One(e.ReconcileAck);

    private static int One(object? body) => body is null ? 0 : 1;

    /// <summary>The name of the message's body, for logs.</summary>
    public static string KindOf(Envelope e) =>
        e.LockRequest is not null ? nameof(LockRequest) : e.LockReply is not null ? nameof(LockReply)
        : e.LockRelease is not null ? nameof(LockRelease) : e.LockCancel is not null ? nameof(LockCancel)
        : e.CommitRequest is not null ? nameof(CommitRequest) : e.CommitReply is not null ? nameof(CommitReply)
        : e.Replicate is not null ? nameof(Replicate) : e.ReplicateAck is not null ? nameof(ReplicateAck)
        : e.ReadRequest is not null ? nameof(ReadRequest) : e.ReadReply is not null ? nameof(ReadReply)
        : e.Touch is not null ? nameof(Touch) : e.PrimaryState is not null ? nameof(PrimaryState)
        : e.Digest is not null ? nameof(Digest) : e.FetchRequest is not null ? nameof(FetchRequest)
        : e.FetchReply is not null ? nameof(FetchReply) : e.ReconcileDone is not null ? nameof(ReconcileDone)
        : e.HoldRequest is not null ? nameof(HoldRequest) : e.HoldReply is not null ? nameof(HoldReply)
        : e.OutcomeRequest is not null ? nameof(OutcomeRequest) : e.OutcomeReply is not null ? nameof(OutcomeReply)
        : e.MemberReady is not null ? nameof(MemberReady) : e.LeaseCheck is not null ? nameof(LeaseCheck)
        : e.LeaseReply is not null ? nameof(LeaseReply) : e.DigestAsk is not null ? nameof(DigestAsk)
        : e.ReconcileAck is not null ? nameof(ReconcileAck) : "none";

    private static bool IsValid(Envelope e, int maxSessionBytes)
    {
        if (e.LockRequest is { } lr)
            return IsId(lr.SessionId) && Enum.IsDefined(lr.Policy);
        if (e.LockReply is { } lp)
            return IsId(lp.SessionId) && Enum.IsDefined(lp.Status) && IsNode(lp.Holder) && (lp.Copy is null || IsValid(lp.Copy, maxSessionBytes));
        if (e.LockRelease is { } rl)
            return IsId(rl.SessionId);
        if (e.LockCancel is { } lc)
            return IsId(lc.SessionId);
        if (e.CommitRequest is { } cr)
            return IsValid(cr.Delta, maxSessionBytes);
        if (e.CommitReply is { } cp)
            return IsId(cp.SessionId) && Enum.IsDefined(cp.Status);
        if (e.Replicate is { } r)
            return r.Deltas.Count + r.Copies.Count <= MaxEntries && AllValid(r.Deltas, maxSessionBytes) && AllValid(r.Copies, maxSessionBytes);
        if (e.ReplicateAck is { } ra)
            return Enum.IsDefined(ra.Status);
        if (e.ReadRequest is { } rq)
            return IsId(rq.SessionId);
        if (e.ReadReply is { } rp)
            return Enum.IsDefined(rp.Status) && (rp.Copy is null || IsValid(rp.Copy, maxSessionBytes));
        if (e.Touch is { } t)
            return t.Entries.Count <= MaxEntries && t.Entries.TrueForAll(x => IsId(x.SessionId));
        if (e.PrimaryState is { } ps)
            return ps.LastMembers.Count <= MaxEntries && ps.LastMembers.TrueForAll(IsNode) && ps.Leavers.Count <= MaxEntries && ps.Leavers.TrueForAll(IsNode);
        if (e.Digest is { } d)
            return d.Index >= 0 && d.Entries.Count <= MaxEntries && d.Entries.TrueForAll(x => IsId(x.SessionId)) && d.Locks.Count <= MaxEntries && d.Locks.TrueForAll(x => IsId(x.SessionId) && IsNode(x.Holder));
        if (e.DigestAsk is { } da)
            return da.Have.Count <= MaxEntries;
        if (e.FetchRequest is { } fq)
            return fq.SessionIds.Count <= MaxEntries && fq.SessionIds.TrueForAll(IsId);
        if (e.FetchReply is { } fp)
            return fp.Copies.Count <= MaxEntries && AllValid(fp.Copies, maxSessionBytes);
        if (e.HoldRequest is { } hq)
            return hq.Entries.Count <= MaxEntries && hq.Entries.TrueForAll(x => IsId(x.SessionId));
        if (e.HoldReply is { } hp)
            return hp.Droppable.Count <= MaxEntries && hp.Droppable.TrueForAll(IsId);
        if (e.OutcomeRequest is { } oq)
            return IsId(oq.SessionId);
        if (e.OutcomeReply is { } op)
            return Enum.IsDefined(op.Outcome);
        return true;
    }

    // Loops, not lambdas over maxSessionBytes: a capturing lambda costs IsValid a closure on every message, whatever its body.
    private static bool AllValid(List<SessionDelta> deltas, int maxSessionBytes)
    {
        foreach (var d in deltas)
        {
            if (!IsValid(d, maxSessionBytes))
                return false;
        }
        return true;
    }

    private static bool AllValid(List<SessionCopy> copies, int maxSessionBytes)
    {
        foreach (var c in copies)
        {
            if (!IsValid(c, maxSessionBytes))
                return false;
        }
        return true;
    }

    private static bool IsId(string? id) => id is { Length: > 0 and <= MaxSessionIdLength };

    private static bool IsNode(string? node) => node is not null && node.Length <= MaxNodeIdLength;

    private static bool IsValid(SessionCopy c, int maxSessionBytes) =>
        IsId(c.Id) && IsNode(c.Writer) && c.Version >= 0 && c.Epoch >= 0 && c.IdleTimeoutMs >= 0
        && c.RecentCommits.Count <= RecentCommitCount && IsValid(c.Attributes, maxSessionBytes);

    private static bool IsValid(SessionDelta d, int maxSessionBytes)
    {
        if (!IsId(d.Id) || !IsNode(d.Writer) || d.Version < 1 || d.BaseVersion < 0 || d.BaseVersion >= d.Version || d.IdleTimeoutMs < 0 || d.Epoch < 0)
            return false;
        if (d.RemovedKeys.Count > MaxAttributes || !d.RemovedKeys.TrueForAll(k => k.Length <= MaxKeyLength) || !Enum.IsDefined(d.RemovalReason))
            return false;
        return IsValid(d.Set, maxSessionBytes);
    }

    private static bool IsValid(List<Attribute> attributes, int maxSessionBytes)
    {
        if (attributes.Count > MaxAttributes)
            return false;
        long size = 0;
        foreach (var a in attributes)
        {
            if (a.Key is null || a.Key.Length > MaxKeyLength || a.Value is null)
                return false;
            size += a.Key.Length + a.Value.Length;
        }
        // No whole session or delta is larger than the session limit; anything above is refused at the door.
        return size <= maxSessionBytes;
    }

    /// <summary>The whole session, as transferred and stored.</summary>
    public static SessionCopy ToCopy(SessionState s)
    {
        var c = new SessionCopy
        {
            Id = s.Id,
            Version = s.Version,
            Epoch = s.Epoch,
            Token = s.Token,
            Writer = s.LastWriter,
            CreatedMs = s.CreatedAt.ToUnixTimeMilliseconds(),
            LastAccessMs = s.LastAccessedAt.ToUnixTimeMilliseconds(),
            IdleTimeoutMs = (long)s.IdleTimeout.TotalMilliseconds,
            Attributes = new List<Attribute>(s.Attributes.Count),
            RecentCommits = [.. s.RecentCommits],
        };
        foreach (var (k, v) in s.Attributes)
            c.Attributes.Add(new Attribute { Key = k, Value = v });
        return c;
    }

    /// <summary>The state a whole copy describes (not for tombstones).</summary>
    public static SessionState FromCopy(SessionCopy c)
    {
        var attributes = new Dictionary<string, byte[]>(c.Attributes.Count, StringComparer.Ordinal);
        foreach (var a in c.Attributes)
            attributes[a.Key] = a.Value;
        return new SessionState
        {
            Id = c.Id,
            Attributes = attributes,
            Version = c.Version,
            Epoch = c.Epoch,
            Token = c.Token,
            CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(c.CreatedMs),
            LastAccessedAt = DateTimeOffset.FromUnixTimeMilliseconds(c.LastAccessMs),
            IdleTimeout = c.IdleTimeoutMs > 0 ? TimeSpan.FromMilliseconds(c.IdleTimeoutMs) : SessionOptions.DefaultIdleTimeout,
            LastWriter = c.Writer,
            RecentCommits = [.. c.RecentCommits],
        };
    }

    /// <summary>Applies a delta to its base (<paramref name="current"/> at <see cref="SessionDelta.BaseVersion"/>, or none for a new session).</summary>
    public static SessionState Apply(SessionState? current, SessionDelta d)
    {
        var attributes = new Dictionary<string, byte[]>((current?.Attributes.Count ?? 0) + d.Set.Count, StringComparer.Ordinal);
        if (current is not null && !d.IsNew)
        {
            foreach (var (k, v) in current.Attributes)
                attributes[k] = v;
            foreach (var k in d.RemovedKeys)
                attributes.Remove(k);
        }
        foreach (var a in d.Set)
            attributes[a.Key] = a.Value;
        var lastAccess = DateTimeOffset.FromUnixTimeMilliseconds(d.LastAccessMs);
        return new SessionState
        {
            Id = d.Id,
            Attributes = attributes,
            Version = d.Version,
            Epoch = d.Epoch,
            Token = Math.Max(d.Token, current?.Token ?? 0),
            CreatedAt = d.IsNew || current is null ? DateTimeOffset.FromUnixTimeMilliseconds(d.CreatedMs) : current.CreatedAt,
            LastAccessedAt = current is not null && current.LastAccessedAt > lastAccess ? current.LastAccessedAt : lastAccess,
            IdleTimeout = d.IdleTimeoutMs > 0 ? TimeSpan.FromMilliseconds(d.IdleTimeoutMs) : current?.IdleTimeout ?? SessionOptions.DefaultIdleTimeout,
            LastWriter = d.Writer,
            RecentCommits = AppendCommit(current?.RecentCommits ?? [], d.CommitId),
        };
    }

    /// <summary>The commit ids a session remembers after one more commit.</summary>
    public static ulong[] AppendCommit(ulong[] recent, ulong commitId)
    {
        if (commitId == 0)
            return recent;
        var keep = Math.Min(recent.Length, RecentCommitCount - 1);
        var next = new ulong[keep + 1];
        Array.Copy(recent, recent.Length - keep, next, 0, keep);
        next[keep] = commitId;
        return next;
    }

    /// <summary>The delta a request's changes make: from the version it read (a whole new session when it created it).</summary>
    public static SessionDelta FromSession(Session s, string writer, long token, ulong commitId, DateTimeOffset now)
    {
        var state = s.State;
        var d = new SessionDelta
        {
            Id = s.Id,
            BaseVersion = state.Version,
            Version = state.Version + 1,
            Token = token,
            Writer = writer,
            CommitId = commitId,
            LastAccessMs = now.ToUnixTimeMilliseconds(),
            IdleTimeoutMs = s.Changes.IdleTimeout is { } idle ? (long)idle.TotalMilliseconds : s.IsNew ? (long)state.IdleTimeout.TotalMilliseconds : 0,
            IsNew = s.IsNew,
            CreatedMs = state.CreatedAt.ToUnixTimeMilliseconds(),
        };
        if (s.IsNew)
        {
            foreach (var k in s.Keys)
            {
                s.TryGetValue(k, out var v);
                d.Set.Add(new Attribute { Key = k, Value = v! });
            }
            return d;
        }
        foreach (var (k, v) in s.Changes.Set)
            d.Set.Add(new Attribute { Key = k, Value = v });
        d.RemovedKeys.AddRange(s.Changes.Removed);
        return d;
    }

    /// <summary>The size the session would have after <paramref name="d"/>, without building it.</summary>
    public static long SizeAfter(SessionState? current, SessionDelta d)
    {
        if (d.Removal)
            return 0;
        if (d.IsNew || current is null)
            return d.Set.Sum(a => (long)System.Text.Encoding.UTF8.GetByteCount(a.Key) + a.Value.Length);
        long size = current.Size;
        foreach (var k in d.RemovedKeys)
        {
            if (current.Attributes.TryGetValue(k, out var v))
                size -= SessionState.SizeOf(k, v);
        }
        foreach (var a in d.Set)
        {
            if (current.Attributes.TryGetValue(a.Key, out var v) && !d.RemovedKeys.Contains(a.Key))
                size -= SessionState.SizeOf(a.Key, v);
            size += System.Text.Encoding.UTF8.GetByteCount(a.Key) + a.Value.Length;
        }
        return size;
    }
}
