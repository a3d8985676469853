namespace Multicast.Messaging.Internal;

/// <summary>
/// Sliding window over one sender's datagram counters (as in IPsec): a counter seen before, or older than the
/// window, is a replay. Receive thread only.
/// </summary>
internal sealed class ReplayWindow
{
    public const int Width = 4096;
    private readonly ulong[] _bits = new ulong[Width / 64];
    private long _highest;

    public bool TryAccept(long counter)
    {
        if (counter <= 0)
            return false;
        if (counter > _highest)
        {
            var shift = counter - _highest;
            if (shift >= Width)
            {
                Array.Clear(_bits);
            }
            else
            {
                for (var c = _highest + 1; c <= counter; c++)
                    Clear(c);
            }
            _highest = counter;
            Set(counter);
            return true;
        }
        if (_highest - counter >= Width || IsSet(counter))
            return false;
        Set(counter);
        return true;
    }

    private void Set(long c) => _bits[(int)((c / 64) % (Width / 64))] |= 1UL << (int)(c % 64);

    private void Clear(long c) => _bits[(int)((c / 64) % (Width / 64))] &= ~(1UL << (int)(c % 64));

    private bool IsSet(long c) => (_bits[(int)((c / 64) % (Width / 64))] & (1UL << (int)(c % 64))) != 0;
}
