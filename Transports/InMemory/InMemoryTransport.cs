using System.Buffers;
using Multicast.Transport;

namespace Multicast.Transports.InMemory;

/// <summary>
/// An <see cref="ITransport"/> on an <see cref="InMemoryHub"/>: each transport has a dedicated, named receive
/// thread fed by a queue. Group sends reach every other started transport on the hub; sends to its own
/// address reach itself.
/// </summary>
/// <remarks>The hub can pause a transport (<see cref="InMemoryHub.Pause"/>: its receive thread stops taking datagrams
/// and its sends are held until <see cref="InMemoryHub.Resume"/>) and slow its receive thread
/// (<see cref="InMemoryHub.SetReceiveCost"/>).</remarks>
public sealed class InMemoryTransport : ITransport
{
    private readonly InMemoryHub _hub;
    private readonly object _queueLock = new();
    private readonly Queue<Item> _queue = new();
    private Item? _held;
    private readonly object _outboxLock = new();
    private readonly List<(string? To, byte[] Datagram)> _outbox = [];
    private bool _paused; // under _queueLock: the receive thread takes nothing
    private bool _holding; // under _outboxLock: sends are held (paused, or the held ones are still going out)
    private long _receiveCostTicks;
    private IDatagramHandler? _handler;
    private Thread? _thread;
    private volatile bool _stopping;
    private int _state; // 0 new, 1 started, 2 disposed

    internal InMemoryTransport(InMemoryHub hub, string address)
    {
        _hub = hub;
        LocalAddress = address;
    }

    /// <inheritdoc />
    public string LocalAddress { get; }

    /// <inheritdoc />
    public int MaxDatagramSize => _hub.MaxDatagramSize;

    /// <inheritdoc />
    /// <remarks>Always: the hub is in this process.</remarks>
    public bool IsLoopback => true;

    /// <inheritdoc />
    public ValueTask StartAsync(IDatagramHandler handler, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
            throw new InvalidOperationException("The transport was started already or is disposed.");
        _handler = handler;
        _thread = new Thread(ReceiveLoop) { IsBackground = true, Name = $"Multicast InMemory Receive {LocalAddress}" };
        _thread.Start();
        _hub.Register(this);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public void SendToGroup(ReadOnlySpan<byte> datagram)
    {
        CheckSize(datagram);
        if (Volatile.Read(ref _state) == 1)
            _hub.Route(this, null, datagram);
    }

    /// <inheritdoc />
    public void SendTo(string address, ReadOnlySpan<byte> datagram)
    {
        ArgumentNullException.ThrowIfNull(address);
        CheckSize(datagram);
        if (Volatile.Read(ref _state) == 1)
            _hub.Route(this, address, datagram);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _state, 2) == 2)
            return;
        _hub.Unregister(this);
        _stopping = true;
        lock (_queueLock)
            Monitor.PulseAll(_queueLock);
        if (_thread is not null && _thread != Thread.CurrentThread)
            await Task.Run(() => _thread.Join());
        lock (_queueLock)
        {
            while (_queue.TryDequeue(out var item))
                ArrayPool<byte>.Shared.Return(item.Buffer);
            if (_held is { } held)
                ArrayPool<byte>.Shared.Return(held.Buffer);
            _held = null;
        }
    }

    /// <summary>Time the receive thread spends per datagram after its handler returns (a slow handler).</summary>
    internal TimeSpan ReceiveCost
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _receiveCostTicks));
        set => Interlocked.Exchange(ref _receiveCostTicks, value.Ticks);
    }

    internal void Pause()
    {
        lock (_outboxLock)
            _holding = true;
        lock (_queueLock)
            _paused = true;
    }

    internal void Resume()
    {
        // What was sent while paused goes out first, in order; sends made meanwhile queue behind it.
        while (true)
        {
            (string? To, byte[] Datagram)[] batch;
            lock (_outboxLock)
            {
                if (_outbox.Count == 0)
                {
                    _holding = false;
                    break;
                }
                batch = [.. _outbox];
                _outbox.Clear();
            }
            foreach (var (to, datagram) in batch)
                _hub.Route(this, to, datagram, held: true);
        }
        lock (_queueLock)
        {
            _paused = false;
            Monitor.PulseAll(_queueLock);
        }
    }

    /// <summary>Keeps a send for later while the transport is paused; false when it may go out now.</summary>
    internal bool TryHold(string? to, ReadOnlySpan<byte> datagram)
    {
        if (!Volatile.Read(ref _holding))
            return false;
        lock (_outboxLock)
        {
            if (!_holding)
                return false;
            _outbox.Add((to, datagram.ToArray()));
            return true;
        }
    }

    private void CheckSize(ReadOnlySpan<byte> datagram)
    {
        if (datagram.Length > MaxDatagramSize)
            throw new ArgumentException($"The datagram has {datagram.Length} bytes; the transport carries at most {MaxDatagramSize}.", nameof(datagram));
    }

    internal void Enqueue(ReadOnlySpan<byte> datagram, long delay, bool holdBack)
    {
        if (_stopping)
            return;
        var now = TimeProvider.System.GetTimestamp();
        var item = new Item(InMemoryHub.Copy(datagram), datagram.Length, now + delay);
        lock (_queueLock)
        {
            if (holdBack && _held is null)
            {
                var hold = (long)(_hub.ReorderHoldTime.TotalSeconds * TimeProvider.System.TimestampFrequency);
                _held = item with { Due = Math.Max(item.Due, now + hold) };
                Monitor.Pulse(_queueLock);
                return;
            }
            _queue.Enqueue(item);
            if (_held is { } held)
            {
                // The held-back datagram now arrives after a later one.
                _held = null;
                _queue.Enqueue(held with { Due = item.Due });
            }
            Monitor.Pulse(_queueLock);
        }
    }

    private void ReceiveLoop()
    {
        while (true)
        {
            Item item;
            lock (_queueLock)
            {
                while (true)
                {
                    if (_stopping)
                        return;
                    if (_paused)
                    {
                        Monitor.Wait(_queueLock);
                        continue;
                    }
                    var now = TimeProvider.System.GetTimestamp();
                    if (_queue.Count == 0 && _held is { } held && held.Due <= now)
                    {
                        _held = null;
                        _queue.Enqueue(held);
                    }
                    if (_queue.TryPeek(out var head) && head.Due <= now)
                    {
                        item = _queue.Dequeue();
                        break;
                    }
                    long? due = _queue.TryPeek(out head) ? head.Due : _held?.Due;
                    if (due is null)
                    {
                        Monitor.Wait(_queueLock);
                    }
                    else
                    {
                        var wait = TimeProvider.System.GetElapsedTime(now, due.Value);
                        Monitor.Wait(_queueLock, wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait);
                    }
                }
            }
            try
            {
                _handler!.OnDatagram(item.Buffer.AsSpan(0, item.Length));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // The handler contract says it never throws; a test transport must not die of it either.
                System.Diagnostics.Debug.WriteLine($"InMemoryTransport {LocalAddress}: handler threw {ex}");
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(item.Buffer);
            }
            var cost = Interlocked.Read(ref _receiveCostTicks);
            if (cost > 0)
                Thread.Sleep(TimeSpan.FromTicks(cost)); // the injected fault: a handler that takes this long (not a wait for something)
            bool idle;
            lock (_queueLock)
                idle = _queue.Count == 0;
            if (idle)
            {
                try
                {
                    _handler!.OnReceiveIdle();
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    System.Diagnostics.Debug.WriteLine($"InMemoryTransport {LocalAddress}: idle handler threw {ex}");
                }
            }
        }
    }

    private readonly record struct Item(byte[] Buffer, int Length, long Due);
}
