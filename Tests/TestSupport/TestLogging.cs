using Microsoft.Extensions.Logging;

namespace Multicast.Tests.TestSupport;

/// <summary>Logs to the console when MULTICAST_TEST_LOG is set (e.g. to Debug), for diagnosing a failing test.</summary>
public static class TestLogging
{
    public static ILoggerFactory? Factory { get; } =
        Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("MULTICAST_TEST_LOG"), out var level)
            ? LoggerFactory.Create(b => b.AddSimpleConsole(o => { o.TimestampFormat = "HH:mm:ss.fff "; o.SingleLine = true; }).SetMinimumLevel(level))
            : null;
}
