using System.Collections.Concurrent;
using Multicast.Messaging;
using Multicast.Wire;

namespace Multicast.Stores;

/// <summary>Requests to one member over the channel's reliable unicast, matched with their replies by request id.</summary>
internal sealed class PeerCalls(IGroupChannel channel, TimeProvider time)
{
    private readonly ConcurrentDictionary<ulong, Call> _calls = new();
    private long _next = Random.Shared.NextInt64(1, long.MaxValue / 2);

    private sealed record Call(string Target, TaskCompletionSource<Envelope> Reply);

    public ulong NextId() => (ulong)Interlocked.Increment(ref _next);

    /// <summary>Sends <paramref name="request"/> (whose request id is <paramref name="id"/>) and waits for the reply.</summary>
    /// <exception cref="MemberGoneException">The target is not in the view, or left it before answering.</exception>
    /// <exception cref="TimeoutException">No reply within <paramref name="timeout"/>.</exception>
    public async Task<Envelope> CallAsync(string target, ulong id, Envelope request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var call = new Call(target, new TaskCompletionSource<Envelope>(TaskCreationOptions.RunContinuationsAsynchronously));
        _calls[id] = call;
        try
        {
            await SendAsync(target, StoreCodec.Encode(request), sentBefore: false, cancellationToken);
            try
            {
                return await call.Reply.Task.WaitAsync(timeout, time, cancellationToken);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"Node '{target}' did not answer within {timeout.TotalSeconds:0.#} s.");
            }
        }
        finally
        {
            _calls.TryRemove(id, out _);
        }
    }

    /// <summary>
    /// Sends <paramref name="request"/> (whose request id is <paramref name="id"/>) and waits for the reply, sending it
    /// again under the same id when no reply came within <paramref name="firstWait"/>, then after twice as long each
    /// time, up to <paramref name="maxWait"/> between sends, until it is answered: a lost request or reply costs a
    /// delay, never the call. The reply to any of the sends completes it, so the target must handle the request
    /// idempotently (<paramref name="onResend"/> is called before each send after the first). The caller bounds it with
    /// <paramref name="cancellationToken"/> (its view changing).
    /// </summary>
    /// <exception cref="MemberGoneException">The target is not in the view, or left it before answering.</exception>
    public async Task<Envelope> AskAsync(string target, ulong id, Envelope request, TimeSpan firstWait, TimeSpan maxWait, Action onResend, CancellationToken cancellationToken)
    {
        var call = new Call(target, new TaskCompletionSource<Envelope>(TaskCreationOptions.RunContinuationsAsynchronously));
        _calls[id] = call;
        try
        {
            var payload = StoreCodec.Encode(request);
            var wait = firstWait;
            for (var sends = 0; ; sends++)
            {
                if (sends > 0)
                    onResend();
                try
                {
                    await SendAsync(target, payload, sentBefore: sends > 0, cancellationToken);
                }
                catch (SendWindowFullException)
                {
                    // The window stayed full past the send timeout: as if lost, sent again after the wait.
                }
                try
                {
                    return await call.Reply.Task.WaitAsync(wait, time, cancellationToken);
                }
                catch (TimeoutException)
                {
                    wait = Doubled(wait, maxWait);
                }
            }
        }
        finally
        {
            _calls.TryRemove(id, out _);
        }
    }

    /// <summary>Hands one send of a call to the channel. A target out of the view, or a send the channel refused (this
    /// node not in a view, or the target not in its view), sent nothing this time.</summary>
    /// <exception cref="MemberGoneException">With <see cref="MemberGoneException.Sent"/> = <paramref name="sentBefore"/>.</exception>
    private async ValueTask SendAsync(string target, byte[] payload, bool sentBefore, CancellationToken cancellationToken)
    {
        if (!channel.View.Contains(target))
            throw new MemberGoneException(target, sentBefore);
        try
        {
            await channel.SendAsync(target, payload, cancellationToken);
        }
        catch (InvalidOperationException)
        {
            throw new MemberGoneException(target, sentBefore);
        }
    }

    /// <summary>The next wait of a doubling back-off, capped at <paramref name="max"/>.</summary>
    public static TimeSpan Doubled(TimeSpan wait, TimeSpan max) => wait * 2 < max ? wait * 2 : max;

    /// <summary>Whether a call to <paramref name="from"/> waits for the reply with this id.</summary>
    public bool Awaits(ulong id, string from) => _calls.TryGetValue(id, out var call) && call.Target == from;

    /// <summary>Completes a call with its reply; only the member that was asked can answer it.</summary>
    public bool Complete(ulong id, string from, Envelope reply) =>
        _calls.TryGetValue(id, out var call) && call.Target == from && _calls.TryRemove(id, out _) && call.Reply.TrySetResult(reply);

    /// <summary>Fails the calls to members for which <paramref name="gone"/> holds.</summary>
    public void FailWhere(Func<string, bool> gone)
    {
        foreach (var (id, call) in _calls)
        {
            if (gone(call.Target) && _calls.TryRemove(id, out _))
                call.Reply.TrySetException(new MemberGoneException(call.Target, sent: true));
        }
    }
}

/// <summary>The member a request was addressed to is not in the view, or left before answering.</summary>
internal sealed class MemberGoneException(string node, bool sent) : Exception(sent
    ? $"Node '{node}' left the view before answering."
    : $"Node '{node}' is not in the view; nothing was sent to it.")
{
    public string Node { get; } = node;

    /// <summary>Whether the request may have reached the member: false when it was never handed to the channel, so
    /// the member cannot have acted on it.</summary>
    public bool Sent { get; } = sent;
}
