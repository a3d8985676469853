using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Wire;

using Multicast.Sessions;

namespace Multicast.Stores;

// Request/reply over the channel's reliable unicast.
internal sealed partial class StoreEngine
{
    private sealed record PendingCall(string Target, TaskCompletionSource<Envelope> Reply);

    private ulong NextCallId() => (ulong)Interlocked.Increment(ref _nextCallId);

    private async Task<Envelope> CallAsync(string target, ulong callId, Envelope request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var call = new PendingCall(target, new TaskCompletionSource<Envelope>(TaskCreationOptions.RunContinuationsAsynchronously));
        _calls[callId] = call;
        try
        {
            if (!_view.Contains(target))
                throw new MemberGoneException(target);
            try
            {
                await _channel.SendAsync(target, StoreCodec.Encode(request), cancellationToken);
            }
            catch (InvalidOperationException)
            {
                throw new MemberGoneException(target);
            }
            using var deadline = new CancellationTokenSource(timeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
            try
            {
                return await call.Reply.Task.WaitAsync(linked.Token);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"Node '{target}' did not answer within {timeout.TotalSeconds:0.#} s.");
            }
        }
        finally
        {
            _calls.TryRemove(callId, out _);
        }
    }

    private bool CompleteCall(ulong callId, Envelope reply) =>
        _calls.TryRemove(callId, out var call) && call.Reply.TrySetResult(reply);

    private void FailCalls(Func<PendingCall, bool> which)
    {
        foreach (var (id, call) in _calls)
        {
            if (which(call) && _calls.TryRemove(id, out _))
                call.Reply.TrySetException(new MemberGoneException(call.Target));
        }
    }

    private void Reply(string node, Envelope message) => Send(node, message);

    /// <summary>Sends without waiting (the receive thread never blocks); a failure is logged.</summary>
    private void Send(string node, Envelope message)
    {
        ValueTask sent;
        try
        {
            sent = _channel.SendAsync(node, StoreCodec.Encode(message));
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            LogSendFailed(node, ex);
            return;
        }
        if (!sent.IsCompletedSuccessfully)
            _ = ObserveAsync(sent, node);
    }

    private async Task ObserveAsync(ValueTask sent, string node)
    {
        try
        {
            await sent;
        }
        catch (Exception ex) when (ex is InvalidOperationException or SendWindowFullException or ObjectDisposedException or OperationCanceledException)
        {
            LogSendFailed(node, ex);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not send to {Node}")]
    private partial void LogSendFailed(string node, Exception ex);
}
