namespace Multicast.Messaging.Internal;

/// <summary>
/// How many packets of one of this node's streams it may still repair for one member: a token bucket that starts full
/// at <see cref="Capacity"/>, earns one token for every new packet the stream transmits (the member may have each one
/// repaired once) and <see cref="Capacity"/> tokens a second besides (a stream that went quiet still repairs its tail),
/// never holding more than <see cref="Capacity"/>. A NAK storm in a member's name (forged without a key, or a broken
/// receiver) therefore costs at most what the stream sent plus <see cref="Capacity"/> and <see cref="Capacity"/> a
/// second, however many NAKs ask; repairs beyond are dropped and counted. Not thread-safe (under the channel lock).
/// </summary>
internal sealed class RepairBudget
{
    /// <summary>The bucket's size and its refill per second, in packets: four NAKs' worth of repairs.</summary>
    public const int Capacity = 1024;

    private double _tokens = Capacity;
    private long _refilledAt;
    private long _earnedUpTo;

    /// <param name="earnedUpTo">The stream's highest transmitted packet when the member was added: it earns from the next one.</param>
    /// <param name="now">A timestamp.</param>
    public RepairBudget(long earnedUpTo, long now)
    {
        _earnedUpTo = earnedUpTo;
        _refilledAt = now;
    }

    /// <summary>Adds what was earned since the last call: the packets transmitted since then and the time that passed.</summary>
    /// <param name="highestTransmitted">The stream's highest transmitted packet.</param>
    /// <param name="now">A timestamp.</param>
    /// <param name="frequency">Timestamp units per second.</param>
    public void Refill(long highestTransmitted, long now, long frequency)
    {
        var earned = 0.0;
        if (highestTransmitted > _earnedUpTo)
        {
            earned += highestTransmitted - _earnedUpTo;
            _earnedUpTo = highestTransmitted;
        }
        if (now > _refilledAt)
        {
            earned += (double)(now - _refilledAt) * Capacity / frequency;
            _refilledAt = now;
        }
        _tokens = Math.Min(Capacity, _tokens + earned);
    }

    /// <summary>Whether one more repair is within the budget.</summary>
    public bool CanSpend => _tokens >= 1;

    /// <summary>One repair was sent.</summary>
    public void Spend() => _tokens--;
}
