using Microsoft.Extensions.Logging;

namespace Multicast.Nemesis.Running;

/// <summary>The nodes' logs on stderr when MULTICAST_NEMESIS_LOG names a level (e.g. Debug), for diagnosing a replayed
/// seed: one line per entry, the time since the run started first.</summary>
internal sealed class StderrLoggers(LogLevel minimum) : ILoggerFactory
{
    private readonly long _start = System.Diagnostics.Stopwatch.GetTimestamp();
    private readonly LogLevel _minimum = minimum;

    public static ILoggerFactory? FromEnvironment() =>
        Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("MULTICAST_NEMESIS_LOG"), out var level) ? new StderrLoggers(level) : null;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void AddProvider(ILoggerProvider provider) { }

    public void Dispose() { }

    private sealed class Logger(StderrLoggers owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner._minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
                return;
            var at = System.Diagnostics.Stopwatch.GetElapsedTime(owner._start).TotalSeconds;
            Console.Error.WriteLine($"{at,8:0.000} {logLevel.ToString()[..4]} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.Message)}");
        }
    }
}
