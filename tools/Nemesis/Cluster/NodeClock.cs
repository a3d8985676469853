namespace Multicast.Nemesis.Cluster;

/// <summary>
/// One node's clock: the system clock with an offset (<see cref="Skew"/>, for leases that disagree), whose timers can be
/// frozen (<see cref="Pause"/>) while time itself keeps moving. A timer due while paused fires once, late, at
/// <see cref="Resume"/>: what a process sees after SIGSTOP and SIGCONT. Timestamps (monotonic time) are not skewed.
/// </summary>
internal sealed class NodeClock : TimeProvider
{
    private readonly object _gate = new();
    private readonly HashSet<FreezableTimer> _timers = [];
    private long _skewTicks;
    private bool _paused;

    public NodeClock(TimeSpan skew = default) => Skew = skew;

    /// <summary>Added to the wall clock (<see cref="GetUtcNow"/>); may change at any time (a clock jump).</summary>
    public TimeSpan Skew
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _skewTicks));
        set => Interlocked.Exchange(ref _skewTicks, value.Ticks);
    }

    public bool IsPaused
    {
        get
        {
            lock (_gate)
                return _paused;
        }
    }

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Skew;

    public override long GetTimestamp() => System.GetTimestamp();

    public override long TimestampFrequency => System.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        var timer = new FreezableTimer(this, callback, state);
        lock (_gate)
            _timers.Add(timer);
        timer.Start(dueTime, period);
        return timer;
    }

    /// <summary>From now on no timer of this clock fires; the ones that come due are remembered.</summary>
    public void Pause()
    {
        lock (_gate)
            _paused = true;
    }

    /// <summary>Timers fire again; each one that came due while paused fires once now (on the thread pool).</summary>
    public void Resume()
    {
        List<FreezableTimer> late;
        lock (_gate)
        {
            _paused = false;
            late = [.. _timers.Where(t => t.TakeMissed())];
        }
        foreach (var timer in late)
            ThreadPool.UnsafeQueueUserWorkItem(static t => t.Invoke(), timer, preferLocal: false);
    }

    /// <summary>Whether a timer may fire now; remembers it for <see cref="Resume"/> otherwise.</summary>
    private bool MayFire(FreezableTimer timer)
    {
        lock (_gate)
        {
            if (!_paused)
                return true;
            timer.Missed = true;
            return false;
        }
    }

    private void Forget(FreezableTimer timer)
    {
        lock (_gate)
            _timers.Remove(timer);
    }

    private sealed class FreezableTimer(NodeClock clock, TimerCallback callback, object? state) : ITimer
    {
        private ITimer? _inner;
        private int _disposed;

        /// <summary>Under the clock's gate.</summary>
        public bool Missed { get; set; }

        public void Start(TimeSpan dueTime, TimeSpan period) =>
            _inner = System.CreateTimer(static t => ((FreezableTimer)t!).OnInnerTick(), this, dueTime, period);

        public bool TakeMissed()
        {
            var missed = Missed;
            Missed = false;
            return missed && Volatile.Read(ref _disposed) == 0;
        }

        public void Invoke()
        {
            if (Volatile.Read(ref _disposed) == 0)
                callback(state);
        }

        public bool Change(TimeSpan dueTime, TimeSpan period) => _inner?.Change(dueTime, period) ?? false;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
                return;
            _inner?.Dispose();
            clock.Forget(this);
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }

        private void OnInnerTick()
        {
            if (clock.MayFire(this))
                Invoke();
        }
    }
}
