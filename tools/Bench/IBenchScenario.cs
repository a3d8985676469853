namespace Multicast.Bench;

/// <summary>One benchmark scenario, picked by <see cref="Name"/> on the command line.</summary>
internal interface IBenchScenario
{
    /// <summary>The first command-line argument that selects this scenario.</summary>
    string Name { get; }

    /// <summary>One line for the usage text.</summary>
    string Description { get; }

    /// <summary>Runs the scenario and reports its figures.</summary>
    Task<BenchReport> RunAsync(BenchArguments arguments, CancellationToken cancellationToken);
}
