using Google.Protobuf;

namespace Multicast.Bench.Codec.Legacy;

/// <summary>
/// The store codec's encode and decode before protobuf-net (Google.Protobuf messages generated from store.proto), as
/// Core/Wire/StoreCodec.cs had them: the codec benchmark's baseline. Decoding validates the same limits it did, so
/// both codecs are measured doing the same work.
/// </summary>
internal static class LegacyStoreCodec
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
        return size <= maxSessionBytes;
    }
}
