using Multicast.Bench.SharedSession;

namespace Multicast.Tests.Tools.Bench;

/// <summary>The lost-update scenario's clients against counter servers that keep and that forget increments.</summary>
[Category("Integration")]
public sealed class SharedCounterRunTests
{
    [Test]
    public async Task RunAsync_ServerKeepsEveryIncrement_NoneLost()
    {
        await using var server = await CounterServer.StartAsync();
        var sut = new SharedCounterRun([new Uri(server.Url)], CounterServer.Cookie) { Clients = 2, RequestsPerClient = 50, Seed = 1 };

        var tally = await sut.RunAsync(CancellationToken.None);

        Assert.That(tally.Acknowledged, Is.EqualTo(101), "the creating POST and 2 x 50");
        Assert.That(tally.Final, Is.EqualTo(101));
        Assert.That((tally.Lost, tally.DuplicateAnswers, tally.NodesDisagree), Is.EqualTo((0L, 0L, false)));
        Assert.That(server.Sessions, Is.EqualTo(1), "both clients share the one session");
    }

    [Test]
    public async Task RunAsync_ServerForgetsAnsweredIncrements_CountsEachAsLost()
    {
        await using var server = await CounterServer.StartAsync(loseEvery: 3);
        var sut = new SharedCounterRun([new Uri(server.Url)], CounterServer.Cookie) { Clients = 2, RequestsPerClient = 30, Seed = 2 };

        var tally = await sut.RunAsync(CancellationToken.None);

        Assert.That(tally.Acknowledged, Is.EqualTo(61));
        Assert.That(server.Dropped, Is.EqualTo(20));
        Assert.That(tally.Lost, Is.EqualTo(server.Dropped));
        Assert.That(tally.Final, Is.EqualTo(61 - 20));
    }
}
