using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

// State transfer: a joining node receives a snapshot in chunks, then the live updates it buffered meanwhile.
public sealed partial class ReplicatedClusterStore
{
    private const int MaxTransferAttempts = 5;
    private static readonly TimeSpan TransferStallTimeout = TimeSpan.FromSeconds(30);

    // Receive-thread state of the transfer this node is receiving.
    private volatile bool _joining = true;
    private readonly List<(Member Sender, long Sequence, Envelope Message)> _joinBuffer = [];
    private ulong _transferId;
    private string? _transferProvider;
    private Dictionary<(string Node, long Incarnation), long>? _digest;
    private long _transferExpected;
    private long _transferReceived;
    private long _transferLastProgress;
    private long _transferStarted;
    private TaskCompletionSource? _transferDone;
    private long _transferActivity;

    private async Task JoinAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            TaskCompletionSource done;
            string? provider;
            lock (_gate)
            {
                // The channel's view, not ours: StartAsync may return before the handler has seen it.
                var view = _view.Id >= _channel.View.Id ? _view : _channel.View;
                provider = view.Members.FirstOrDefault(m => m.NodeId != InstanceId)?.NodeId;
                if (provider is null || !_joining)
                {
                    FinishJoinLocked(replay: true);
                    return;
                }
                done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _transferDone = done;
                _transferProvider = provider;
                _transferId = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
                _digest = null;
                _transferExpected = _transferReceived = _transferLastProgress = 0;
                _transferStarted = Stopwatch.GetTimestamp();
                Interlocked.Exchange(ref _transferActivity, Stopwatch.GetTimestamp());
            }
            LogTransferStarting(provider, attempt);
            Send(provider, new Envelope { StateRequest = new StateRequest { TransferId = _transferId } });
            try
            {
                // Wait while chunks keep coming; a provider that goes quiet is replaced.
                while (!done.Task.IsCompleted)
                {
                    await Task.WhenAny(done.Task, Task.Delay(TimeSpan.FromSeconds(1), cancellationToken));
                    cancellationToken.ThrowIfCancellationRequested();
                    if (Stopwatch.GetElapsedTime(Interlocked.Read(ref _transferActivity)) > TransferStallTimeout)
                        throw new TimeoutException($"State transfer from '{provider}' stalled.");
                }
                await done.Task;
                return;
            }
            catch (Exception ex) when (ex is MemberGoneException or TimeoutException or GapException && attempt < MaxTransferAttempts)
            {
                LogTransferRetry(provider, attempt, ex.Message);
            }
        }
    }

    private void OnViewChangedWhileJoining(MembershipView view, HashSet<string> gone)
    {
        if (!_joining)
            return;
        if (_transferProvider is { } provider && gone.Contains(provider))
            _transferDone?.TrySetException(new MemberGoneException(provider));
    }

    /// <summary>Provider side, on the receive thread: a consistent snapshot now, streamed with flow control.</summary>
    private void HandleStateRequest(string from, StateRequest request)
    {
        SessionRecord[] snapshot;
        DigestEntry[] digest;
        lock (_gate)
        {
            snapshot = [.. Table.Values];
            digest = [.. _delivered.Select(d => new DigestEntry { NodeId = d.Key.NodeId, Incarnation = d.Key.Incarnation, Sequence = d.Value })];
        }
        _ = StreamStateAsync(from, request.TransferId, snapshot, digest);
    }

    private async Task StreamStateAsync(string to, ulong transferId, SessionRecord[] snapshot, DigestEntry[] digest)
    {
        var started = Stopwatch.GetTimestamp();
        LogTransferServing(to, snapshot.Length);
        try
        {
            var chunk = NewChunk(transferId, snapshot.Length);
            chunk.Digest.AddRange(digest);
            var bytes = 0;
            var sent = 0;
            var nextReport = snapshot.Length / 10;
            foreach (var record in snapshot)
            {
                chunk.Sessions.Add(StoreCodec.ToFull(record));
                bytes += record.Size + 64;
                if (bytes >= _options.StateTransferChunkBytes)
                {
                    await _channel.SendAsync(to, StoreCodec.Encode(new Envelope { StateChunk = chunk }), _stopping.Token);
                    sent += chunk.Sessions.Count;
                    chunk = NewChunk(transferId, snapshot.Length);
                    bytes = 0;
                    if (sent >= nextReport && snapshot.Length >= 1000)
                    {
                        LogTransferProgress(to, sent, snapshot.Length);
                        nextReport += snapshot.Length / 10;
                    }
                }
            }
            chunk.Last = true;
            await _channel.SendAsync(to, StoreCodec.Encode(new Envelope { StateChunk = chunk }), _stopping.Token);
            LogTransferServed(to, snapshot.Length, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception ex) when (ex is InvalidOperationException or SendWindowFullException or OperationCanceledException or ObjectDisposedException)
        {
            LogTransferAborted(to, ex);
        }
    }

    private static StateChunk NewChunk(ulong transferId, int total) => new() { TransferId = transferId, TotalSessions = total };

    /// <summary>Joiner side, on the receive thread.</summary>
    private void HandleStateChunk(StateChunk chunk)
    {
        if (!_joining || chunk.TransferId != _transferId)
            return;
        Interlocked.Exchange(ref _transferActivity, Stopwatch.GetTimestamp());
        lock (_gate)
        {
            if (_digest is null)
            {
                _digest = chunk.Digest.ToDictionary(d => (d.NodeId, d.Incarnation), d => d.Sequence);
                _transferExpected = chunk.TotalSessions;
            }
            foreach (var u in chunk.Sessions)
                ApplyLocked(u, _transferProvider ?? string.Empty);
            _transferReceived += chunk.Sessions.Count;
            Counters.TransferredSessions += chunk.Sessions.Count;
        }
        if (_transferExpected >= 1000 && _transferReceived - _transferLastProgress >= _transferExpected / 10)
        {
            _transferLastProgress = _transferReceived;
            LogTransferProgress(InstanceId, (int)_transferReceived, (int)_transferExpected);
        }
        if (!chunk.Last)
            return;

        var buffered = _joinBuffer.Count;
        lock (_gate)
        {
            var gap = FindGapLocked();
            if (gap is not null)
            {
                _transferDone?.TrySetException(new GapException(gap));
                return;
            }
            FinishJoinLocked(replay: true);
        }
        LogTransferDone(_transferReceived, Stopwatch.GetElapsedTime(_transferStarted).TotalMilliseconds, buffered);
    }

    /// <summary>A sender whose first buffered update comes after the snapshot's last one from it leaves a hole.</summary>
    private string? FindGapLocked()
    {
        foreach (var group in _joinBuffer.GroupBy(b => b.Sender))
        {
            var first = group.Min(b => b.Sequence);
            if (_digest!.TryGetValue((group.Key.NodeId, group.Key.Incarnation), out var last) && first > last + 1)
                return $"updates {last + 1}..{first - 1} from {group.Key} are in neither the snapshot nor the buffer";
        }
        return null;
    }

    private void FinishJoinLocked(bool replay)
    {
        if (!_joining)
            return;
        if (replay)
        {
            foreach (var (sender, sequence, message) in _joinBuffer)
            {
                if (_digest is not null && _digest.TryGetValue((sender.NodeId, sender.Incarnation), out var last) && sequence <= last)
                    continue;
                if (message.BodyCase == Envelope.BodyOneofCase.Update)
                    ApplyLocked(message.Update, sender.NodeId);
                else if (message.BodyCase == Envelope.BodyOneofCase.Touch)
                    ApplyTouchesLocked(message.Touch);
            }
        }
        _joinBuffer.Clear();
        _joining = false;
        _transferDone?.TrySetResult();
        _ready.TrySetResult();
    }

    private sealed class GapException(string message) : Exception(message);

    [LoggerMessage(Level = LogLevel.Information, Message = "State transfer: asking {Provider} for the sessions (attempt {Attempt})")]
    private partial void LogTransferStarting(string provider, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "State transfer from {Provider} failed (attempt {Attempt}): {Reason}; retrying")]
    private partial void LogTransferRetry(string provider, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "State transfer: sending {Count} sessions to {Joiner}")]
    private partial void LogTransferServing(string joiner, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "State transfer to {Node}: {Done}/{Total} sessions")]
    private partial void LogTransferProgress(string node, int done, int total);

    [LoggerMessage(Level = LogLevel.Information, Message = "State transfer: sent {Count} sessions to {Joiner} in {Ms:0} ms")]
    private partial void LogTransferServed(string joiner, int count, double ms);

    [LoggerMessage(Level = LogLevel.Warning, Message = "State transfer to {Joiner} aborted")]
    private partial void LogTransferAborted(string joiner, Exception ex);

    [LoggerMessage(Level = LogLevel.Information, Message = "State transfer done: {Count} sessions in {Ms:0} ms, then {Buffered} buffered update(s); ready")]
    private partial void LogTransferDone(long count, double ms, int buffered);
}
