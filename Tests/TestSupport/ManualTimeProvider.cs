namespace Multicast.Tests.TestSupport;

/// <summary>A clock that moves only when told to; timers fire as it passes their due time.</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private readonly Lock _gate = new();
    private readonly List<ManualTimer> _timers = [];
    private DateTimeOffset _now = start;

    public ManualTimeProvider() : this(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero)) { }

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate)
            return _now;
    }

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => GetUtcNow().UtcTicks;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>
    /// Moves the clock by <paramref name="step"/> while <paramref name="task"/> is pending, up to <paramref name="limit"/>
    /// in all: a request that is retried waits its backoff on this clock, so a test that does not move it would wait for
    /// good. Between steps the nodes' threads get a moment of real time to answer.
    /// </summary>
    public async Task AdvanceWhilePending(Task task, TimeSpan step, TimeSpan limit)
    {
        for (var moved = TimeSpan.Zero; !task.IsCompleted; moved += step)
        {
            if (moved >= limit)
                throw new NUnit.Framework.AssertionException($"still pending after the clock moved {limit.TotalSeconds:0.#} s");
            await Task.WhenAny(task, Task.Delay(TimeSpan.FromMilliseconds(5)));
            if (!task.IsCompleted)
                Advance(step);
        }
        await task;
    }

    /// <inheritdoc cref="AdvanceWhilePending(Task, TimeSpan, TimeSpan)"/>
    public async Task<T> AdvanceWhilePending<T>(Task<T> task, TimeSpan step, TimeSpan limit)
    {
        await AdvanceWhilePending((Task)task, step, limit);
        return await task;
    }

    public void Advance(TimeSpan by)
    {
        DateTimeOffset target;
        lock (_gate)
            target = _now + by;
        while (true)
        {
            ManualTimer? next = null;
            lock (_gate)
            {
                foreach (var t in _timers)
                {
                    if (t.Due is { } due && due <= target && (next is null || due < next.Due))
                        next = t;
                }
                if (next is null)
                {
                    _now = target;
                    return;
                }
                _now = next.Due!.Value;
                next.Due = next.Period > TimeSpan.Zero ? _now + next.Period : null;
            }
            next.Fire();
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public DateTimeOffset? Due { get; set; }
        public TimeSpan Period { get; private set; }

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._gate)
            {
                owner._timers.Remove(this);
                Period = period == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : period;
                Due = dueTime == Timeout.InfiniteTimeSpan ? null : owner._now + dueTime;
                owner._timers.Add(this);
            }
            return true;
        }

        public void Dispose()
        {
            lock (owner._gate)
                owner._timers.Remove(this);
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
