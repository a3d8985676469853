// Benchmarks, one scenario per run:
//   dotnet run -c Release --project tools/Bench -- <scenario> [--json FILE] [--<option> <value> ...]
// A scenario is any IBenchScenario in this assembly (add one in its own file; nothing to register here).
using System.Reflection;
using Multicast.Bench;

var scenarios = typeof(IBenchScenario).Assembly.GetTypes()
    .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IBenchScenario).IsAssignableFrom(t))
    .Select(t => (IBenchScenario)Activator.CreateInstance(t)!)
    .ToDictionary(s => s.Name, StringComparer.OrdinalIgnoreCase);

if (args.Length == 0 || !scenarios.TryGetValue(args[0], out var scenario))
{
    Console.Error.WriteLine("usage: Bench <scenario> [--json FILE] [--<option> <value> ...]");
    foreach (var s in scenarios.Values.OrderBy(s => s.Name, StringComparer.Ordinal))
        Console.Error.WriteLine($"  {s.Name,-12} {s.Description}");
    return 2;
}

BenchArguments arguments;
try
{
    arguments = BenchArguments.Parse(args.AsSpan(1));
}
catch (FormatException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cancel.Cancel(); };

var machine = BenchReport.DescribeMachine();
var report = await scenario.RunAsync(arguments, cancel.Token);
report.Scenario = scenario.Name;
report.Command = "dotnet run -c Release --project tools/Bench -- " + string.Join(' ', args);
report.Machine = machine;
report.Version = Assembly.GetExecutingAssembly().GetName().Version?.ToString() ?? "";
report.WriteText(Console.Out);
if (arguments.Json is { } json)
{
    await report.WriteJsonAsync(json);
    Console.WriteLine($"wrote {json}");
}
return 0;
