using Multicast.LoadCheck;

namespace Multicast.Tests.Tools.LoadCheck;

/// <summary>The checker's verdict against a counter server that keeps every increment and one that loses some.</summary>
[Category("Integration")]
public sealed partial class LoadCheckRunTests
{
    [TestCase(0, 0)]
    [TestCase(7, 1)]
    public async Task Run_AgainstCounterServer_VerdictMatchesWhetherUpdatesAreLost(int loseEvery, int expectedExitCode)
    {
        await using var server = await CounterServer.StartAsync(loseEvery);
        using var output = new StringWriter();

        var exitCode = await LoadCheckRun.MainAsync(["--urls", server.Url, "--clients", "3", "--duration", "1", "--progress", "0.5"], output, output);

        var lines = output.ToString().TrimEnd().Split('\n');
        Assert.That(exitCode, Is.EqualTo(expectedExitCode), output.ToString());
        Assert.That(lines[^1], Does.StartWith(expectedExitCode == 0 ? "PASS: no lost update" : "FAIL:"));
        if (expectedExitCode != 0)
            Assert.That(output.ToString(), Does.Contain("lost update"));
    }

    [Test]
    public async Task Run_WithReadsAndJson_WritesRequestFigures()
    {
        await using var server = await CounterServer.StartAsync(loseEvery: 0);
        using var output = new StringWriter();
        var json = Path.Combine(Path.GetTempPath(), $"loadcheck-{Guid.NewGuid():N}.json");
        try
        {
            // --reads 100: after its first (creating) POST every request of a client is a read.
            var exitCode = await LoadCheckRun.MainAsync(
                ["--urls", server.Url, "--clients", "2", "--duration", "2", "--progress", "1", "--reads", "100", "--json", json], output, output);

            Assert.That(exitCode, Is.Zero, output.ToString());
            var figures = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, double>>(await File.ReadAllTextAsync(json))!;
            Assert.That(figures["writes_acked"], Is.EqualTo(2), "one creating POST per client");
            Assert.That(figures["reads_answered"], Is.GreaterThan(0));
            Assert.That(figures["requests_per_s"], Is.EqualTo((figures["reads_answered"] + figures["writes_acked"]) / figures["seconds"]).Within(1e-6));
            Assert.That(figures["p99_ms"], Is.GreaterThanOrEqualTo(figures["p50_ms"]));
            Assert.That(figures["pass"], Is.EqualTo(1));
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Test]
    public async Task Run_WithReadsAgainstALosingServer_StillFails()
    {
        // Every increment is forgotten after it is answered: the final check finds fewer than were acknowledged.
        await using var server = await CounterServer.StartAsync(loseEvery: 1);
        using var output = new StringWriter();
        var json = Path.Combine(Path.GetTempPath(), $"loadcheck-{Guid.NewGuid():N}.json");
        try
        {
            var exitCode = await LoadCheckRun.MainAsync(
                ["--urls", server.Url, "--clients", "2", "--duration", "1", "--progress", "1", "--reads", "50", "--json", json], output, output);

            Assert.That(exitCode, Is.EqualTo(1), output.ToString());
            var figures = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, double>>(await File.ReadAllTextAsync(json))!;
            Assert.That(figures["pass"], Is.Zero);
            Assert.That(figures["violations"], Is.GreaterThan(0));
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Test]
    public async Task Run_Sticky_EachClientKeepsOneNode()
    {
        // Two servers that share nothing: non-sticky, a client's session would be created on both (and the final
        // read of every session from every node would fail, hence --check none).
        await using var first = await CounterServer.StartAsync();
        await using var second = await CounterServer.StartAsync();
        using var output = new StringWriter();

        var exitCode = await LoadCheckRun.MainAsync(
            ["--urls", $"{first.Url},{second.Url}", "--clients", "4", "--duration", "1", "--progress", "1", "--sticky", "--check", "none"], output, output);

        Assert.That(exitCode, Is.Zero, output.ToString());
        Assert.That((first.Sessions, second.Sessions), Is.EqualTo((2, 2)), "clients 1 and 3 on the first node, 2 and 4 on the second, one session each");
    }

    [Test]
    public async Task Run_CheckNoneOnServersThatDoNotShare_Passes()
    {
        // The other node does not know a client's session (it answers 0): the final check would fail the run
        // (after waiting for the nodes to agree); --check none skips it, the answers' sequence is still checked.
        await using var first = await CounterServer.StartAsync();
        await using var second = await CounterServer.StartAsync();
        using var output = new StringWriter();

        var exitCode = await LoadCheckRun.MainAsync(
            ["--urls", $"{first.Url},{second.Url}", "--clients", "2", "--duration", "1", "--progress", "1", "--sticky", "--check", "none"], output, output);

        Assert.That(exitCode, Is.Zero, output.ToString());
        Assert.That(output.ToString(), Does.Contain("final check skipped"));
    }

    [Test]
    public async Task Run_CheckUnknown_ExitsTwo()
    {
        using var output = new StringWriter();

        var exitCode = await LoadCheckRun.MainAsync(["--urls", "http://127.0.0.1:1/", "--check", "some"], output, output);

        Assert.That(exitCode, Is.EqualTo(2));
        Assert.That(output.ToString(), Does.Contain("--check must be all or none"));
    }

    [Test]
    public async Task Run_ReadsOutOfRange_ExitsTwo()
    {
        using var output = new StringWriter();

        var exitCode = await LoadCheckRun.MainAsync(["--urls", "http://127.0.0.1:1/", "--reads", "150"], output, output);

        Assert.That(exitCode, Is.EqualTo(2));
        Assert.That(output.ToString(), Does.Contain("--reads"));
    }

    [Test]
    public async Task Run_BadArguments_ExitsTwoWithUsage()
    {
        using var output = new StringWriter();

        var exitCode = await LoadCheckRun.MainAsync(["--clients", "many"], output, output);

        Assert.That(exitCode, Is.EqualTo(2));
        Assert.That(output.ToString(), Does.Contain("usage: LoadCheck"));
    }
}
