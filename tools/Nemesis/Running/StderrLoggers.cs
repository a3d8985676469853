using Microsoft.Extensions.Logging;

namespace Multicast.Nemesis.Running;

/// <summary>The nodes' logs on stderr when MULTICAST_NEMESIS_LOG names a level (e.g. Debug), for diagnosing a replayed
/// seed: one line per entry, the time since the run started first, then the run's number (runs at once interleave).</summary>
internal sealed class StderrLoggers(LogLevel minimum, int run = 0) : ILoggerFactory
{
    private readonly long _start = System.Diagnostics.Stopwatch.GetTimestamp();
    private readonly LogLevel _minimum = minimum;
    private readonly int _run = run;

    public static ILoggerFactory? FromEnvironment(int run = 0) =>
        Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("MULTICAST_NEMESIS_LOG"), out var level) ? new StderrLoggers(level, run) : null;

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
            Console.Error.WriteLine($"{at,8:0.000} r{owner._run} {logLevel.ToString()[..4]} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.Message)}");
        }
    }
}
