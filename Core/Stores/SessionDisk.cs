using System.Buffers.Binary;
using System.Threading.Channels;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

/// <summary>
/// The ring store's disk copy: one file per session this node holds, rewritten whole when the session changes
/// (sessions are small; Resin does the same). A file is <c>magic, length, CRC-32, Update (full)</c>; a truncated
/// or corrupt file is skipped, counted, logged and renamed aside, never fatal. Writes run on one background
/// loop; a durable write completes its task only once the file is written through to the disk.
/// </summary>
internal sealed partial class SessionDisk : IAsyncDisposable
{
    private const uint Magic = 0x3153434D; // "MCS1"
    private const int HeaderBytes = 12;
    private const string Extension = ".session";

    private readonly string _directory;
    private readonly ILogger _log;
    private readonly StoreCounters _counters;
    private readonly Channel<Op> _queue = Channel.CreateUnbounded<Op>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _loop;
    private bool _failed; // a write failed since the last flush barrier (write loop only)

    private sealed record Op(string Id, Update? Full, TaskCompletionSource? Done);

    public SessionDisk(string directory, ILogger log, StoreCounters counters)
    {
        _directory = Path.GetFullPath(directory);
        _log = log;
        _counters = counters;
        Directory.CreateDirectory(_directory);
        _loop = Task.Run(WriteLoopAsync);
    }

    /// <summary>Every intact session file, as full updates; the others are reported and moved aside.</summary>
    public List<Update> Load(int maxSessionBytes)
    {
        var loaded = new List<Update>();
        foreach (var path in Directory.EnumerateFiles(_directory, "*" + Extension))
        {
            var id = Path.GetFileNameWithoutExtension(path);
            if (TryRead(path, maxSessionBytes, out var update, out var reason) && update.SessionId == id)
            {
                loaded.Add(update);
                continue;
            }
            _counters.Increment(ref _counters.CorruptFiles);
            LogCorrupt(path, reason ?? "the session id does not match the file name");
            try
            {
                File.Move(path, path + ".corrupt", overwrite: true);
            }
            catch (IOException ex)
            {
                LogDiskFailed(path, ex);
            }
        }
        _counters.LoadedFromDisk += loaded.Count;
        return loaded;
    }

    /// <summary>Queues the session's new state (in order with every other change).</summary>
    public void Save(SessionState record) => Enqueue(new Op(record.Id, StoreCodec.ToFull(record), null));

    /// <summary>Queues the removal of the session's file.</summary>
    public void Delete(string id) => Enqueue(new Op(id, null, null));

    /// <summary>Completes once every change queued before it is on disk (written through).</summary>
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
                if (op.Id.Length == 0)
                {
                    // A flush barrier: everything before it is written, or the flush reports that something was not.
                    if (_failed)
                        op.Done?.TrySetException(new IOException($"A write to the disk copy in {_directory} failed."));
                    else
                        op.Done?.TrySetResult();
                    _failed = false;
                }
                else if (op.Full is null)
                    File.Delete(PathOf(op.Id));
                else
                    Write(op.Id, op.Full);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _failed = true;
                LogDiskFailed(PathOf(op.Id), ex);
            }
        }
    }

    private void Write(string id, Update full)
    {
        var payload = full.ToByteArray();
        var buffer = new byte[HeaderBytes + payload.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(4), payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(8), Crc32.Compute(payload));
        payload.CopyTo(buffer.AsSpan(HeaderBytes));
        var path = PathOf(id);
        var temp = path + ".tmp";
        // Written through to the disk, then renamed over the previous copy: a crash leaves the old file or the new one.
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 4096, FileOptions.WriteThrough))
        {
            file.Write(buffer);
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    internal static bool TryRead(string path, int maxSessionBytes, out Update update, out string? reason)
    {
        update = null!;
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
        if (bytes.Length < HeaderBytes || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic)
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
        var payload = bytes.AsSpan(HeaderBytes);
        if (Crc32.Compute(payload) != BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)))
        {
            reason = "checksum mismatch";
            return false;
        }
        Envelope envelope;
        try
        {
            envelope = new Envelope { Update = Update.Parser.ParseFrom(payload) };
        }
        catch (InvalidProtocolBufferException)
        {
            reason = "not a valid session";
            return false;
        }
        if (!StoreCodec.TryDecode(StoreCodec.Encode(envelope), maxSessionBytes, out var checkedEnvelope) || !checkedEnvelope.Update.Full)
        {
            reason = "not a valid session";
            return false;
        }
        update = checkedEnvelope.Update;
        return true;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Skipped the disk copy {Path}: {Reason}; it is renamed *.corrupt and the session is taken from peers")]
    private partial void LogCorrupt(string path, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Disk copy {Path}: I/O failed")]
    private partial void LogDiskFailed(string path, Exception ex);
}
