using Microsoft.Extensions.Logging;
using Multicast.Messaging;
using Multicast.Wire;

namespace Multicast.Stores;

// The lease: a member that was paused (a long GC, a VM steal, SIGSTOP) or starved past half the suspect timeout, or
// that has heard nothing from a majority of its view for half the suspect timeout (cut off before its channel noticed),
// may have been removed meanwhile, and the others may have gone on in a newer primary without it. Until it hears that
// a majority of its view still shares its view and epoch, it neither arbitrates nor answers from its own copy.
// (Its commits are also fenced at the replicas, which apply nothing from an epoch older than one they decided; this
// closes the reads and grants the fence cannot see.)
internal sealed partial class StoreNode
{
    private static readonly TimeSpan LeaseRetry = TimeSpan.FromMilliseconds(50);
    private DateTimeOffset _lastTick;
    private volatile bool _stalled;
    private Task<bool>? _confirming; // the confirmation round in progress; under the gate

    // Fixed once the node is built (its options and its channel's are validated then); every read asks.
    private readonly TimeSpan _stallThreshold;
    private readonly long _majorityWindowTicks;

    /// <summary>A gap between ticks this long means the node itself stopped (its peers may have suspected it).</summary>
    private TimeSpan StallThreshold => _stallThreshold;

    private static TimeSpan StallThresholdOf(IGroupChannel channel, ClusterStoreOptions options) =>
        TickPeriodOf(options) + ((channel is ReliableGroupChannel c ? c.Options.SuspectTimeout : options.LockLease) / 2);

    /// <summary>Half the channel's suspect timeout in its clock's timestamp units: how recently a majority must have been
    /// heard for this node to serve from its own copy.</summary>
    private static long MajorityWindowTicksOf(IGroupChannel channel) =>
        channel is ReliableGroupChannel c ? (long)((c.Options.SuspectTimeout / 2).TotalSeconds * c.Time.TimestampFrequency) : 0;

    private static TimeSpan TickPeriodOf(ClusterStoreOptions options) =>
        TimeSpan.FromMilliseconds(Math.Clamp(options.LockLease.TotalMilliseconds / 4, 10, 250));

    private TimeSpan TickPeriod => TickPeriodOf(_options);

    /// <summary>Timer: notes a stall (the previous tick ran too long ago).</summary>
    private void NoteTick()
    {
        var now = _time.GetUtcNow();
        if (_lastTick != default && now - _lastTick > StallThreshold && !_stalled)
        {
            _stalled = true;
            Counters.AddStall();
            LogStalled(now - _lastTick);
        }
        _lastTick = now;
    }

    /// <summary>Whether this node may have been left behind: it stalled, or it has not heard from a majority of its view
    /// for half the suspect timeout (cut off, and its channel has not noticed yet; the others may already have moved on).</summary>
    private bool StallSuspected() => StallSuspected(_time.GetUtcNow());

    private bool StallSuspected(DateTimeOffset now)
    {
        if (_stalled)
            return true;
        var last = _lastTick;
        if (last != default && now - last > StallThreshold)
            return true;
        return _channel is ReliableGroupChannel c && !c.HeardFromMajorityWithin(c.Options.SuspectTimeout / 2);
    }

    /// <summary><see cref="StallSuspected()"/> at a request's one clock reading (its timestamp stands for the channel's
    /// clock when both run on the same provider; otherwise the channel reads its own).</summary>
    private bool StallSuspected(RequestTime now)
    {
        if (_stalled)
            return true;
        var last = _lastTick;
        if (last != default && now.Utc - last > StallThreshold)
            return true;
        if (_channel is not ReliableGroupChannel c)
            return false;
        return ReferenceEquals(c.Time, _clock.Time)
            ? !c.HeardFromMajorityWithinTicks(_majorityWindowTicks, now.Timestamp)
            : !c.HeardFromMajorityWithin(c.Options.SuspectTimeout / 2);
    }

    /// <summary>A request from a member reached this node while its lease is in question: it is refused (the asker retries
    /// with a backoff, as from a node that is not the arbiter) and a confirmation round starts. Under the gate.</summary>
    private bool RefuseUntilConfirmed(EpochState epoch)
    {
        if (epoch.View.Members.Count == 1)
            return false;
        if (_confirming is null)
            Track(ConfirmLeaseAsync(epoch));
        return true;
    }

    /// <summary>Whether a majority of the epoch's view (this node included) still shares its view and epoch.</summary>
    private Task<bool> ConfirmLeaseAsync(EpochState epoch)
    {
        lock (_gate)
            return _confirming ??= RunConfirmationAsync(epoch);
    }

    private async Task<bool> RunConfirmationAsync(EpochState epoch)
    {
        await Task.Yield();
        var confirmed = false;
        try
        {
            var view = epoch.View;
            var others = view.Members.Where(m => m.NodeId != InstanceId).Select(m => m.NodeId).ToList();
            var needed = view.Members.Count / 2; // with this node, a majority
            var pending = others.Select(node => AskLeaseAsync(node, view.Id, epoch.Epoch)).ToList();
            var yes = 0;
            while (yes < needed && pending.Count > 0)
            {
                var done = await Task.WhenAny(pending);
                pending.Remove(done);
                if (await done)
                    yes++;
            }
            confirmed = yes >= needed;
            return confirmed;
        }
        finally
        {
            lock (_gate)
            {
                _confirming = null;
                if (confirmed && _epoch == epoch)
                {
                    _stalled = false;
                    _lastTick = _time.GetUtcNow();
                }
            }
            if (confirmed)
                LogLeaseConfirmed(epoch.View.Id, epoch.Epoch);
        }
    }

    private async Task<bool> AskLeaseAsync(string node, long viewId, long epoch)
    {
        var id = _calls.NextId();
        try
        {
            var request = new Envelope { LeaseCheck = new LeaseCheck { RequestId = id, ViewId = viewId, Epoch = epoch } };
            var reply = (await _calls.CallAsync(node, id, request, _options.CommitTimeout, _stopping.Token)).LeaseReply;
            return reply is not null && reply.ViewId == viewId && reply.Epoch == epoch;
        }
        catch (Exception ex) when (ex is MemberGoneException or TimeoutException or OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>A stalled member asks whether this node still shares its view and epoch (receive thread).</summary>
    private void OnLeaseCheck(string from, LeaseCheck check)
    {
        long viewId, epoch;
        lock (_gate)
        {
            viewId = _excluded ? 0 : _view.Id;
            epoch = _epoch.Decision is { IsPrimary: true } d ? d.Epoch : 0;
        }
        Send(from, new Envelope { LeaseReply = new LeaseReply { RequestId = check.RequestId, ViewId = viewId, Epoch = epoch } });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "This node stalled for {Gap} (a pause, or a starved machine): it confirms with a majority of its view before it arbitrates or answers from its own copy again")]
    private partial void LogStalled(TimeSpan gap);

    [LoggerMessage(Level = LogLevel.Information, Message = "A majority still shares view {ViewId}, epoch {Epoch}: serving again after the stall")]
    private partial void LogLeaseConfirmed(long viewId, long epoch);
}
