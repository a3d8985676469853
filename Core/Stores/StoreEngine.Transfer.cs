using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Wire;

namespace Multicast.Stores;

// State transfer: a joining node receives a snapshot in chunks, then the live updates it buffered meanwhile.
internal sealed partial class StoreEngine
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
    private HashSet<string>? _providers; // ring: the members that have not sent their last chunk yet

    private async Task JoinAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            TaskCompletionSource done;
            string? provider;
            string[] providers;
            lock (_gate)
            {
                // The channel's view, not ours: StartAsync may return before the handler has seen it.
                var view = _view.Id >= _channel.View.Id ? _view : _channel.View;
                // Replicated: the oldest other member has everything. Ring: each member sends what this node must hold.
                providers = [.. view.Members.Where(m => m.NodeId != InstanceId).Select(m => m.NodeId).Take(_placement.EveryNode ? 1 : int.MaxValue)];
                provider = providers.FirstOrDefault();
                if (provider is null || !_joining)
                {
                    FinishJoinLocked(replay: true);
                    return;
                }
                _providers = _placement.EveryNode ? null : new HashSet<string>(providers, StringComparer.Ordinal);
                done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _transferDone = done;
                _transferProvider = provider;
                _transferId = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
                _digest = null;
                _transferExpected = _transferReceived = _transferLastProgress = 0;
                _transferStarted = Stopwatch.GetTimestamp();
                Interlocked.Exchange(ref _transferActivity, Stopwatch.GetTimestamp());
            }
            LogTransferStarting(string.Join(", ", providers), attempt);
            foreach (var p in providers)
                Send(p, new Envelope { StateRequest = new StateRequest { TransferId = _transferId, ReplicasOnly = !_placement.EveryNode } });
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
        if (_providers is not null)
        {
            // Ring: a provider that left has nothing more to give; what it held is on its backups, also asked.
            lock (_gate)
            {
                _providers.RemoveWhere(gone.Contains);
                if (_providers.Count == 0)
                    FinishJoinLocked(replay: false);
            }
            return;
        }
        if (_transferProvider is { } provider && gone.Contains(provider))
            _transferDone?.TrySetException(new MemberGoneException(provider));
    }

    /// <summary>Provider side, on the receive thread: a consistent snapshot now, streamed with flow control.</summary>
    private void HandleStateRequest(Member from, StateRequest request)
    {
        SessionState[] snapshot;
        DigestEntry[] digest = [];
        Update[] removals = [];
        lock (_gate)
        {
            if (request.ReplicasOnly)
            {
                // The asker may not be in this node's view yet: place sessions as if it were.
                var view = _view.Contains(from.NodeId) ? _view : new MembershipView(_view.Id, [.. _view.Members, from]);
                snapshot = [.. Table.Where(r => _placement.MustHold(r.Id, view, from.NodeId))];
                removals = [.. _tombstones.Where(t => _placement.MustHold(t.Key, view, from.NodeId))
                    .Select(t => new Update { SessionId = t.Key, Version = t.Value, BaseVersion = t.Value - 1, Writer = InstanceId, Removal = true })];
            }
            else
            {
                snapshot = [.. Table];
                digest = [.. _delivered.Select(d => new DigestEntry { NodeId = d.Key.NodeId, Incarnation = d.Key.Incarnation, Sequence = d.Value })];
            }
        }
        _ = StreamStateAsync(from.NodeId, request.TransferId, snapshot, digest, removals);
    }

    private async Task StreamStateAsync(string to, ulong transferId, SessionState[] snapshot, DigestEntry[] digest, Update[] removals)
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
            chunk.Sessions.AddRange(removals);
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
    private void HandleStateChunk(string from, StateChunk chunk)
    {
        if (!_joining || chunk.TransferId != _transferId)
            return;
        if (_providers is not null)
        {
            HandleRingChunk(from, chunk);
            return;
        }
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

    /// <summary>Ring: copies from every member, the newest version of each kept; ready once every provider is done.</summary>
    private void HandleRingChunk(string from, StateChunk chunk)
    {
        lock (_gate)
        {
            foreach (var u in chunk.Sessions)
                ApplyLocked(u, from);
            _transferReceived += chunk.Sessions.Count;
            Counters.TransferredSessions += chunk.Sessions.Count;
            if (!chunk.Last || _providers is null)
                return;
            _providers.Remove(from);
            if (_providers.Count > 0)
                return;
            FinishJoinLocked(replay: false);
        }
        LogTransferDone(_transferReceived, Stopwatch.GetElapsedTime(_transferStarted).TotalMilliseconds, 0);
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
        MarkRebalanced(_view);
        // Ready first: the join's waiter resumes on another thread and StartAsync must not return before it.
        _ready.TrySetResult();
        _transferDone?.TrySetResult();
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
