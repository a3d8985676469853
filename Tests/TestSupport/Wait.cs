using System.Diagnostics;

namespace Multicast.Tests.TestSupport;

/// <summary>Waits for a condition with a deadline (never a fixed sleep).</summary>
internal static class Wait
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > limit)
                Assert.Fail($"Timed out after {limit.TotalSeconds:0.#} s waiting for: {what}");
            await Task.Delay(5);
        }
    }
}
