using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Multicast.Tests.TestSupport;

/// <summary>
/// Logs for diagnosing a failing test, when MULTICAST_TEST_LOG is set: a level (e.g. <c>Debug</c>) logs to the console;
/// <c>memory:Debug</c> keeps the last lines in memory instead (cheap enough not to hide a race) and a failing store
/// test prints them (<see cref="DumpIfFailed"/>).
/// </summary>
public static class TestLogging
{
    private const int Kept = 20_000;
    private static readonly ConcurrentQueue<string>? Lines;

    public static ILoggerFactory? Factory { get; }

    static TestLogging()
    {
        var setting = Environment.GetEnvironmentVariable("MULTICAST_TEST_LOG") ?? string.Empty;
        var memory = setting.StartsWith("memory:", StringComparison.OrdinalIgnoreCase);
        if (!Enum.TryParse<LogLevel>(memory ? setting["memory:".Length..] : setting, out var level))
            return;
        if (memory)
        {
            Lines = new ConcurrentQueue<string>();
            Factory = LoggerFactory.Create(b => b.AddProvider(new MemoryProvider(Lines)).SetMinimumLevel(level));
        }
        else
        {
            Factory = LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.TimestampFormat = "HH:mm:ss.fff "; o.SingleLine = true; }).SetMinimumLevel(level));
        }
    }

    /// <summary>Forgets the lines of the previous test.</summary>
    public static void Clear() => Lines?.Clear();

    /// <summary>Prints the kept lines when the current test failed.</summary>
    public static void DumpIfFailed()
    {
        if (Lines is null || NUnit.Framework.TestContext.CurrentContext.Result.Outcome.Status != NUnit.Framework.Interfaces.TestStatus.Failed)
            return;
        NUnit.Framework.TestContext.Out.WriteLine($"--- last {Lines.Count} log lines ---");
        foreach (var line in Lines)
            NUnit.Framework.TestContext.Out.WriteLine(line);
    }

    private sealed class MemoryProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new MemoryLogger(categoryName, lines);

        public void Dispose()
        {
        }
    }

    private sealed class MemoryLogger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.GetType().Name + ": " + exception.Message)}");
            while (lines.Count > Kept)
                lines.TryDequeue(out _);
        }
    }
}
