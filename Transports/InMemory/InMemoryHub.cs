using System.Buffers;
using System.Collections.Concurrent;

namespace Multicast.Transports.InMemory;

/// <summary>
/// A network in one process for <see cref="InMemoryTransport"/>s, with fault injection: loss, duplication,
/// reordering, delay and partitions, driven by a seeded random generator so a failing run can be repeated.
/// </summary>
/// <remarks>
/// <para>Faults apply to each copy separately (a group send is one copy per receiver). A transport's
/// datagrams to itself are faulted only by <see cref="LoopbackDropProbability"/>. Settings may change while traffic flows.</para>
/// <para>Beyond the hub-wide probabilities, faults aimed at one member, for fault-injection harnesses
/// (tools/Nemesis): one-way link cuts (<see cref="BlockLink"/>), a paused member whose traffic is held and flows
/// on resume (<see cref="Pause"/>, like a process under SIGSTOP), a slow member (<see cref="SetDelay"/>,
/// <see cref="SetReceiveCost"/>) and a crashed one (<see cref="Crash"/>). None of them is on unless asked for.</para>
/// </remarks>
public sealed class InMemoryHub
{
    private readonly ConcurrentDictionary<string, InMemoryTransport> _transports = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _partitions = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string From, string To), bool> _blocked = new();
    private readonly ConcurrentDictionary<string, long> _extraDelay = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _crashed = new(StringComparer.Ordinal);
    private readonly Random _random;
    private readonly object _randomLock = new();
    private int _nextAddress;
    private int _nextPartition;

    /// <summary>Creates a hub.</summary>
    /// <param name="seed">Seeds the fault decisions.</param>
    public InMemoryHub(int seed = 1) => _random = new Random(seed);

    /// <summary>The probability that a datagram copy is lost.</summary>
    /// <value>The default value is 0.</value>
    public double DropProbability { get; set; }

    /// <summary>The probability that a datagram a transport sends to itself is lost (a firewall rule on every incoming
    /// datagram, such as the loss tests' iptables rule, drops those too).</summary>
    /// <value>The default value is 0.</value>
    public double LoopbackDropProbability { get; set; }

    /// <summary>The probability that a datagram copy is delivered twice.</summary>
    /// <value>The default value is 0.</value>
    public double DuplicateProbability { get; set; }

    /// <summary>The probability that a datagram copy is held back and delivered after the receiver's next one
    /// (or after <see cref="ReorderHoldTime"/> when nothing follows).</summary>
    /// <value>The default value is 0.</value>
    public double ReorderProbability { get; set; }

    /// <summary>How long a held-back datagram waits at most.</summary>
    /// <value>The default value is 1 ms.</value>
    public TimeSpan ReorderHoldTime { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>A fixed delivery delay for every copy (order is kept).</summary>
    /// <value>The default value is zero.</value>
    public TimeSpan Delay { get; set; }

    /// <summary>The largest datagram the transports accept.</summary>
    /// <value>The default value is 65507, like UDP.</value>
    public int MaxDatagramSize { get; init; } = 65507;

    /// <summary>Called with a copy of every datagram sent (sender address, destination address or
    /// <see langword="null"/> for the group, bytes), before faults apply. For tests that inspect the wire.</summary>
    public Action<string, string?, byte[]>? Tap { get; set; }

    /// <summary>Datagrams lost by fault injection or partitions.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    private long _dropped;

    /// <summary>Creates a transport on this hub with a fresh address (<c>mem://N</c>).</summary>
    public InMemoryTransport CreateTransport() => new(this, $"mem://{Interlocked.Increment(ref _nextAddress)}");

    /// <summary>Cuts <paramref name="addresses"/> off from everyone else (they still reach each other).</summary>
    public void Partition(params string[] addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var id = Interlocked.Increment(ref _nextPartition);
        foreach (var address in addresses)
            _partitions[address] = id;
    }

    /// <summary>Removes every partition and every blocked link (<see cref="BlockLink"/>). Paused, slowed and
    /// crashed members stay as they are.</summary>
    public void Heal()
    {
        _partitions.Clear();
        _blocked.Clear();
    }

    /// <summary>Cuts one direction of a link: datagrams from <paramref name="from"/> no longer reach
    /// <paramref name="to"/>, while <paramref name="to"/> still reaches <paramref name="from"/> (a one-way partition).</summary>
    public void BlockLink(string from, string to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        _blocked[(from, to)] = true;
    }

    /// <summary>Restores one direction of a link cut by <see cref="BlockLink"/>.</summary>
    public void UnblockLink(string from, string to) => _blocked.TryRemove((from, to), out _);

    /// <summary>
    /// Freezes the member at <paramref name="address"/> as a SIGSTOP would, as far as the network sees it: its receive
    /// thread stops taking datagrams (they queue up) and what it sends is held. <see cref="Resume"/> lets both flow, in
    /// order. Its timers are the caller's to freeze (a pausable <see cref="TimeProvider"/>).
    /// </summary>
    /// <returns>Whether a started transport has that address.</returns>
    public bool Pause(string address)
    {
        if (!_transports.TryGetValue(address, out var transport))
            return false;
        transport.Pause();
        return true;
    }

    /// <summary>Ends a <see cref="Pause"/>: the held sends go out (in the order they were made, faults applying as
    /// they go), then the receive thread takes the datagrams that queued up.</summary>
    /// <returns>Whether a started transport has that address.</returns>
    public bool Resume(string address)
    {
        if (!_transports.TryGetValue(address, out var transport))
            return false;
        transport.Resume();
        return true;
    }

    /// <summary>Delays every copy delivered to <paramref name="address"/> by <paramref name="delay"/> on top of
    /// <see cref="Delay"/> (a slow member: its deliveries arrive late, in order); <see cref="TimeSpan.Zero"/> ends it.</summary>
    public void SetDelay(string address, TimeSpan delay)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        if (delay == TimeSpan.Zero)
            _extraDelay.TryRemove(address, out _);
        else
            _extraDelay[address] = (long)(delay.TotalSeconds * TimeProvider.System.TimestampFrequency);
    }

    /// <summary>Makes the receive thread of the member at <paramref name="address"/> spend <paramref name="cost"/> per
    /// datagram after its handler returns (a slow handler: a busy or starved member); <see cref="TimeSpan.Zero"/> ends it.</summary>
    /// <returns>Whether a started transport has that address.</returns>
    public bool SetReceiveCost(string address, TimeSpan cost)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(cost, TimeSpan.Zero);
        if (!_transports.TryGetValue(address, out var transport))
            return false;
        transport.ReceiveCost = cost;
        return true;
    }

    /// <summary>From now on nothing reaches or leaves <paramref name="address"/> (counted as dropped): the member died.
    /// A restarted member is a new transport with a new address. Use it before disposing a node so that whatever it
    /// sends on the way down (a graceful leave) is lost, as with SIGKILL.</summary>
    public void Crash(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        _crashed[address] = true;
    }

    /// <summary>Delivers <paramref name="datagram"/> to the transport at <paramref name="address"/> as if it came
    /// from the network, bypassing faults.</summary>
    public void Inject(string address, ReadOnlySpan<byte> datagram)
    {
        if (_transports.TryGetValue(address, out var target))
            target.Enqueue(datagram, 0, false);
    }

    /// <summary>Delivers <paramref name="datagram"/> to every started transport, bypassing faults.</summary>
    public void InjectToGroup(ReadOnlySpan<byte> datagram)
    {
        foreach (var target in _transports.Values)
            target.Enqueue(datagram, 0, false);
    }

    internal void Register(InMemoryTransport transport) => _transports[transport.LocalAddress] = transport;

    internal void Unregister(InMemoryTransport transport) => _transports.TryRemove(transport.LocalAddress, out _);

    internal void Route(InMemoryTransport from, string? to, ReadOnlySpan<byte> datagram, bool held = false)
    {
        if (!held && from.TryHold(to, datagram))
            return; // paused: goes out on resume
        if (_crashed.ContainsKey(from.LocalAddress))
        {
            Interlocked.Increment(ref _dropped);
            return;
        }
        if (Tap is { } tap)
            tap(from.LocalAddress, to, datagram.ToArray());
        if (to is not null)
        {
            if (_transports.TryGetValue(to, out var target))
                Deliver(from, target, datagram);
            return;
        }
        foreach (var target in _transports.Values)
        {
            if (target != from)
                Deliver(from, target, datagram);
        }
    }

    private void Deliver(InMemoryTransport from, InMemoryTransport target, ReadOnlySpan<byte> datagram)
    {
        var delay = Delay > TimeSpan.Zero ? (long)(Delay.TotalSeconds * TimeProvider.System.TimestampFrequency) : 0;
        if (target == from)
        {
            bool lost;
            lock (_randomLock)
                lost = LoopbackDropProbability > 0 && _random.NextDouble() < LoopbackDropProbability;
            if (lost)
                Interlocked.Increment(ref _dropped);
            else
                target.Enqueue(datagram, delay, false);
            return;
        }
        if (_partitions.GetValueOrDefault(from.LocalAddress) != _partitions.GetValueOrDefault(target.LocalAddress)
            || (!_blocked.IsEmpty && _blocked.ContainsKey((from.LocalAddress, target.LocalAddress)))
            || (!_crashed.IsEmpty && _crashed.ContainsKey(target.LocalAddress)))
        {
            Interlocked.Increment(ref _dropped);
            return;
        }
        bool drop, duplicate, reorder;
        lock (_randomLock)
        {
            drop = DropProbability > 0 && _random.NextDouble() < DropProbability;
            duplicate = DuplicateProbability > 0 && _random.NextDouble() < DuplicateProbability;
            reorder = ReorderProbability > 0 && _random.NextDouble() < ReorderProbability;
        }
        if (drop)
        {
            Interlocked.Increment(ref _dropped);
            return;
        }
        if (!_extraDelay.IsEmpty)
            delay += _extraDelay.GetValueOrDefault(target.LocalAddress);
        target.Enqueue(datagram, delay, reorder);
        if (duplicate)
            target.Enqueue(datagram, delay, false);
    }

    internal static byte[] Copy(ReadOnlySpan<byte> datagram)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(1, datagram.Length));
        datagram.CopyTo(buffer);
        return buffer;
    }
}
