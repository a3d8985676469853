using System.Buffers.Binary;
using System.IO.Hashing;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Multicast.Sessions;
using Multicast.Wire;
using ProtoBuf;

namespace Multicast.Stores;

/// <summary>
/// The ring store's disk copy: one file per session this node holds (and per tombstone), rewritten whole when it
/// changes (sessions are small; Resin does the same). A file is <c>magic, length, CRC-32, SessionCopy</c>; a truncated
/// or corrupt file is skipped, counted, logged and renamed aside, never fatal. Writes run on one background loop; a
/// durable write completes its task only once the file and the directory entry are on the disk.
/// </summary>
internal sealed partial class SessionDisk : IAsyncDisposable
{
    private const uint Magic = 0x3253434D; // "MCS2"
    private const int HeaderBytes = 12;
    private const string Extension = ".session";
    private const uint PrimaryMagic = 0x3150434D; // "MCP1"
    private const string PrimaryFile = "primary.record";

    private readonly string _directory;
    private readonly ILogger _log;
    private readonly StoreCounters _counters;
    private readonly Action<string> _syncDirectory;
    private readonly Channel<Op> _queue = Channel.CreateUnbounded<Op>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;
    private bool _failed; // a write or the directory sync failed since the last flush barrier (write loop only)
    private bool _renamed; // a file was renamed since the directory was last synced (write loop only)

    private sealed record Op(string Id, SessionCopy? Copy, TaskCompletionSource? Done, PrimaryState? Primary = null);

    /// <summary>Opens (creates) the disk copy in <paramref name="directory"/>. <paramref name="syncDirectory"/> makes the
    /// directory's entries durable (it throws <see cref="IOException"/> when it cannot): fsync(2) of the directory unless
    /// a test watches the calls.</summary>
    public SessionDisk(string directory, ILogger log, StoreCounters counters, Action<string>? syncDirectory = null)
    {
        _directory = Path.GetFullPath(directory);
        _log = log;
        _counters = counters;
        _syncDirectory = syncDirectory ?? SyncDirectory;
        Directory.CreateDirectory(_directory);
        _loop = Task.Run(WriteLoopAsync);
    }

    /// <summary>Every intact file, as whole copies and tombstones; the others are reported and moved aside.</summary>
    public List<SessionCopy> Load(int maxSessionBytes)
    {
        var loaded = new List<SessionCopy>();
        foreach (var path in Directory.EnumerateFiles(_directory, "*" + Extension))
        {
            var id = Path.GetFileNameWithoutExtension(path);
            if (TryRead(path, maxSessionBytes, out var copy, out var reason) && copy.Id == id)
            {
                loaded.Add(copy);
                continue;
            }
            SetAside(path, reason ?? "the session id does not match the file name");
        }
        _counters.AddLoadedFromDisk(loaded.Count);
        return loaded;
    }

    /// <summary>Queues the last primary this node took part in (in order with every other change: a commit of its epoch
    /// made durable later finds it on the disk too). A restart with the disk then counts toward that primary (N16).</summary>
    public void SavePrimary(PrimaryRecord record) => Enqueue(new Op(string.Empty, null, null, new PrimaryState
    {
        LastEpoch = record.Epoch,
        LastMembers = [.. record.Members],
        LastRings = [.. record.Rings],
        LastPassive = [.. record.Passive],
    }));

    /// <summary>The last primary saved, or null: none, or a damaged file (reported, moved aside: the node then counts as
    /// one that remembers nothing, which is safe).</summary>
    public PrimaryRecord? LoadPrimary()
    {
        var path = Path.Combine(_directory, PrimaryFile);
        if (!File.Exists(path))
            return null;
        if (TryReadFramed(path, PrimaryMagic, out var payload, out var reason))
        {
            try
            {
                var state = Serializer.Deserialize<PrimaryState>(payload.Span);
                if (state.LastEpoch > 0 && state.LastMembers.Count > 0 && state.LastMembers.Count <= 4096)
                    return PrimaryRecord.Of(state);
                reason = "not a valid primary record";
            }
            catch (Exception ex) when (ex is ProtoException or EndOfStreamException or InvalidOperationException or OverflowException or ArgumentException)
            {
                reason = "not a valid primary record";
            }
        }
        SetAside(path, reason ?? "unreadable");
        return null;
    }

    /// <summary>A damaged file is counted, reported and renamed <c>.corrupt</c> (kept for a look, never loaded again).</summary>
    private void SetAside(string path, string reason)
    {
        _counters.AddCorruptFile();
        LogCorrupt(path, reason);
        try
        {
            File.Move(path, path + ".corrupt", overwrite: true);
        }
        catch (IOException ex)
        {
            LogDiskFailed(path, ex);
        }
    }

    /// <summary>Queues the session's new state (in order with every other change).</summary>
    public void Save(SessionState state) => Enqueue(new Op(state.Id, StoreCodec.ToCopy(state), null));

    /// <summary>Queues a tombstone for the session (its file then says it was removed).</summary>
    public void SaveTombstone(string id, long epoch, long version, ulong[] recentCommits) =>
        Enqueue(new Op(id, new SessionCopy { Id = id, Epoch = epoch, Version = version, Removed = true, RecentCommits = [.. recentCommits] }, null));

    /// <summary>Queues the removal of the session's file.</summary>
    public void Delete(string id) => Enqueue(new Op(id, null, null));

    /// <summary>Completes once every change queued before it is on disk (written through, directory synced).</summary>
    public Task FlushAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Enqueue(new Op(string.Empty, null, done));
        return done.Task;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop;
    }

    internal string PathOf(string id) => Path.Combine(_directory, id + Extension);

    private void Enqueue(Op op)
    {
        if (!_queue.Writer.TryWrite(op))
            op.Done?.TrySetException(new ObjectDisposedException(nameof(SessionDisk)));
    }

    private async Task WriteLoopAsync()
    {
        await foreach (var op in _queue.Reader.ReadAllAsync())
        {
            // Session ids are checked before they reach the store, so a valid one is always a safe file name.
            if (op.Id.Length > 0 && !SessionIds.TryParseOwner(op.Id, out _))
                continue;
            try
            {
                if (op.Primary is { } primary)
                {
                    using var stream = new MemoryStream();
                    Serializer.Serialize(stream, primary);
                    WriteFramed(Path.Combine(_directory, PrimaryFile), PrimaryMagic, stream.GetBuffer().AsSpan(0, (int)stream.Length));
                }
                else if (op.Id.Length == 0)
                {
                    Barrier(op.Done);
                }
                else if (op.Copy is null)
                {
                    File.Delete(PathOf(op.Id));
                    _renamed = true;
                }
                else
                {
                    Write(op.Id, op.Copy);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _failed = true;
                LogDiskFailed(PathOf(op.Id), ex);
            }
        }
    }

    /// <summary>A flush barrier: a rename is durable only once the directory is, so it is synced before the answer. A
    /// failed sync fails the flush (the commits waiting for it are not answered as durable); what was not synced is
    /// synced at the next flush.</summary>
    private void Barrier(TaskCompletionSource? done)
    {
        if (_renamed && !_failed)
        {
            try
            {
                _syncDirectory(_directory);
                _renamed = false;
            }
            catch (IOException ex)
            {
                _failed = true;
                LogDiskFailed(_directory, ex);
            }
        }
        if (_failed)
            done?.TrySetException(new IOException($"A write to the disk copy in {_directory} failed."));
        else
            done?.TrySetResult();
        _failed = false;
    }

    private void Write(string id, SessionCopy copy)
    {
        using var payloadStream = new MemoryStream();
        Serializer.Serialize(payloadStream, copy);
        WriteFramed(PathOf(id), Magic, payloadStream.GetBuffer().AsSpan(0, (int)payloadStream.Length));
    }

    private void WriteFramed(string path, uint magic, ReadOnlySpan<byte> payload)
    {
        var buffer = new byte[HeaderBytes + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, magic);
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(4), payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(8), Crc32.HashToUInt32(payload));
        payload.CopyTo(buffer.AsSpan(HeaderBytes));
        var temp = path + ".tmp";
        // Written through to the disk, then renamed over the previous copy: a crash leaves the old file or the new one.
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
        {
            file.Write(buffer);
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
        _renamed = true;
    }

    // The rename (and a delete) lives in the directory: fsync it, or power loss can bring the old file back.
    private static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
            Interop.SyncDirectory(directory);
    }

    internal static bool TryRead(string path, int maxSessionBytes, out SessionCopy copy, out string? reason)
    {
        copy = null!;
        if (!TryReadFramed(path, Magic, out var payload, out reason))
            return false;
        // Decoded and checked like a copy from the network.
        var envelope = StoreCodec.Encode(new Envelope { FetchReply = new FetchReply { Copies = [Deserialize(payload)] } });
        if (!StoreCodec.TryDecode(envelope, maxSessionBytes, out var checkedEnvelope) || checkedEnvelope.FetchReply is not { Copies: [var valid] })
        {
            reason = "not a valid session";
            return false;
        }
        copy = valid;
        return true;
    }

    /// <summary>A file's payload, once its header, length and checksum hold.</summary>
    private static bool TryReadFramed(string path, uint magic, out ReadOnlyMemory<byte> payload, out string? reason)
    {
        payload = default;
        reason = null;
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException ex)
        {
            reason = ex.Message;
            return false;
        }
        if (bytes.Length < HeaderBytes || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != magic)
        {
            reason = "no header";
            return false;
        }
        var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4));
        if (length < 0 || length != bytes.Length - HeaderBytes)
        {
            reason = $"truncated: {bytes.Length - HeaderBytes} of {length} bytes";
            return false;
        }
        payload = bytes.AsMemory(HeaderBytes);
        if (Crc32.HashToUInt32(payload.Span) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)))
        {
            reason = "checksum mismatch";
            return false;
        }
        return true;
    }

    private static SessionCopy Deserialize(ReadOnlyMemory<byte> payload)
    {
        try
        {
            return Serializer.Deserialize<SessionCopy>(payload.Span);
        }
        catch (Exception ex) when (ex is ProtoException or EndOfStreamException or InvalidOperationException or OverflowException or ArgumentException)
        {
            return new SessionCopy(); // invalid: refused by the check that follows
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Skipped the disk copy {Path}: {Reason}; it is renamed *.corrupt and the session is taken from peers")]
    private partial void LogCorrupt(string path, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Disk copy {Path}: I/O failed")]
    private partial void LogDiskFailed(string path, Exception ex);
}
