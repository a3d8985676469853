using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Multicast.Bench;

/// <summary>What a scenario measured: named results with their figures, and ratios between them.</summary>
internal sealed class BenchReport
{
    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public string Scenario { get; set; } = "";

    public string Command { get; set; } = "";

    public string Machine { get; set; } = "";

    public string Version { get; set; } = "";

    public DateTimeOffset Started { get; set; } = DateTimeOffset.UtcNow;

    public List<BenchResult> Results { get; } = [];

    public SortedDictionary<string, double> Ratios { get; } = new(StringComparer.Ordinal);

    /// <summary>How the figures were obtained (method, caveats), for the reader of the JSON.</summary>
    public List<string> Notes { get; } = [];

    public BenchResult Add(string name)
    {
        var result = new BenchResult { Name = name };
        Results.Add(result);
        return result;
    }

    public static string DescribeMachine()
    {
        var model = "";
        try
        {
            model = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "";
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        var load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";
        return $"{Environment.ProcessorCount} cores {model}; {RuntimeInformation.OSDescription}; {RuntimeInformation.FrameworkDescription}; load average at start {load}";
    }

    public void WriteText(TextWriter output)
    {
        output.WriteLine($"{Scenario}: {Machine}");
        foreach (var result in Results)
        {
            output.WriteLine($"  {result.Name}");
            foreach (var (key, value) in result.Figures)
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {key,-28} {value,14:0.###}"));
        }
        foreach (var (key, value) in Ratios)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  ratio {key,-34} {value:0.###}"));
        foreach (var note in Notes)
            output.WriteLine($"  note: {note}");
    }

    public async Task WriteJsonAsync(string path)
    {
        await using var stream = File.Create(path);
        await JsonSerializer.SerializeAsync(stream, this, JsonOptions);
    }
}
