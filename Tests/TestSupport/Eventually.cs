namespace Multicast.Tests.TestSupport;

/// <summary>Waits for a condition by polling it until a deadline: tests wait for facts, never for time.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails the test with <paramref name="what"/> at the deadline.</summary>
    public static async Task Until(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"Timed out waiting until {what}.");
            await Task.Delay(5);
        }
    }

    /// <summary>As <see cref="Until(Func{bool}, string, TimeSpan?)"/>, and the failure also says what <paramref name="state"/>
    /// shows at the deadline (so a timeout in a loaded CI run tells what was stuck).</summary>
    public static async Task Until(Func<bool> condition, string what, Func<string> state, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"Timed out waiting until {what}; {state()}.");
            await Task.Delay(5);
        }
    }

    /// <summary>Awaits <paramref name="task"/>, failing the test (instead of hanging) at the deadline.</summary>
    public static async Task<T> Within<T>(Task<T> task, string what, TimeSpan? timeout = null)
    {
        try
        {
            return await task.WaitAsync(timeout ?? DefaultTimeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"Timed out waiting for {what}.");
            throw;
        }
    }

    /// <inheritdoc cref="Within{T}(Task{T}, string, TimeSpan?)" />
    public static async Task Within(Task task, string what, TimeSpan? timeout = null)
    {
        try
        {
            await task.WaitAsync(timeout ?? DefaultTimeout);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"Timed out waiting for {what}.");
            throw;
        }
    }
}
