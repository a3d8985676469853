namespace Multicast.Tests.TestSupport;

/// <summary>
/// The system clock, whose timers can be frozen: while frozen their callbacks are held, and <see cref="Thaw"/> runs
/// them late, as a paused process (GC, VM steal, SIGSTOP) finds its timers when it resumes.
/// </summary>
internal sealed class FreezableTimeProvider : TimeProvider
{
    private readonly Lock _gate = new();
    private readonly List<(TimerCallback Callback, object? State)> _held = [];
    private bool _frozen;

    public override long GetTimestamp() => System.GetTimestamp();

    public override long TimestampFrequency => System.TimestampFrequency;

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        System.CreateTimer(_ => Fire(callback, state), null, dueTime, period);

    /// <summary>Timers fired while frozen (their callbacks are held).</summary>
    public int HeldCount
    {
        get
        {
            lock (_gate)
                return _held.Count;
        }
    }

    public void Freeze()
    {
        lock (_gate)
            _frozen = true;
    }

    /// <summary>Runs the held callbacks on this thread (late), then lets timers fire again.</summary>
    public void Thaw()
    {
        List<(TimerCallback Callback, object? State)> held;
        lock (_gate)
        {
            held = [.. _held];
            _held.Clear();
            _frozen = false;
        }
        foreach (var (callback, state) in held)
            callback(state);
    }

    private void Fire(TimerCallback callback, object? state)
    {
        lock (_gate)
        {
            if (_frozen)
            {
                if (!_held.Exists(h => h.Callback == callback && h.State == state))
                    _held.Add((callback, state));
                return;
            }
        }
        callback(state);
    }
}
