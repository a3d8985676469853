using System.Net;

namespace Multicast.Tests.Host;

/// <summary>Three node processes sharing sessions on loopback, with each store and each transport.</summary>
[Category("Integration")]
[NonParallelizable]
[TestFixture("Replicated", "Udp")]
[TestFixture("Ring", "Udp")]
[TestFixture("Replicated", "ZeroMq")]
public sealed class ClusterEndToEndTests(string store, string transport)
{
    private TestCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task StartCluster() => _cluster = await TestCluster.StartAsync(3, transport, 1, $"--Cluster:Store={store}");

    [OneTimeTearDown]
    public async Task StopCluster() => await _cluster.DisposeAsync();

    [Test]
    public async Task Session_CreatedOnNode1_IsReadAndIncrementedOnNodes2And3()
    {
        var sut = _cluster;
        var session = await sut.CreateSessionAsync(sut[1]);

        var readOn2 = await sut.ReadEventuallyAsync(sut[2], session, 1);
        var incrementedOn2 = await sut.IncrementAsync(sut[2], session);
        var readOn3 = await sut.ReadEventuallyAsync(sut[3], session, 2);
        var incrementedOn3 = await sut.IncrementAsync(sut[3], session);
        var readOn1 = await sut.ReadEventuallyAsync(sut[1], session, 3);

        Assert.That(readOn2, Is.EqualTo(1));
        Assert.That(incrementedOn2, Is.EqualTo(2));
        Assert.That(readOn3, Is.EqualTo(2));
        Assert.That(incrementedOn3, Is.EqualTo(3));
        Assert.That(readOn1, Is.EqualTo(3));
    }

    [Test]
    public async Task SessionValues_PutOnOneNode_ReadOnAnotherAnd404WhenAbsent()
    {
        var sut = _cluster;
        var session = await sut.CreateSessionAsync(sut[1]);

        var put = await sut.SendAsync(sut[3], HttpMethod.Put, "/session/name", session, "alice");
        var read = await sut.SendAsync(sut[3], HttpMethod.Get, "/session/name", session);
        var absent = await sut.SendAsync(sut[1], HttpMethod.Get, "/session/missing", session);

        Assert.That(put.Status, Is.EqualTo(HttpStatusCode.NoContent));
        Assert.That(read.Status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(read.Body, Is.EqualTo("alice"));
        Assert.That(absent.Status, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task ConcurrentIncrements_FromTwoNodesOnOneSession_AllSurvive()
    {
        var sut = _cluster;
        var session = await sut.CreateSessionAsync(sut[1]);
        const int PerNode = 25;

        async Task<List<int>> Load(NodeProcess node)
        {
            var answers = new List<int>();
            for (var i = 0; i < PerNode; i++)
                answers.Add(await sut.IncrementAsync(node, session));
            return answers;
        }
        var results = await Task.WhenAll(Load(sut[2]), Load(sut[3]));

        var answers = results.SelectMany(r => r).Order().ToArray();
        Assert.That(answers, Is.EqualTo(Enumerable.Range(2, 2 * PerNode).ToArray()), "every increment saw the one before it: none lost, none applied twice");
        foreach (var node in sut.Nodes)
            Assert.That(await sut.ReadEventuallyAsync(node, session, 1 + 2 * PerNode), Is.EqualTo(1 + 2 * PerNode), node.NodeId);
    }

    [Test]
    public async Task ReadOnlyEndpoint_WhileExclusiveRequestHoldsTheLock_AnswersAtOnce()
    {
        var sut = _cluster;
        var session = await sut.CreateSessionAsync(sut[1]);
        var hold = sut.SendAsync(sut[2], HttpMethod.Post, "/test/hold", session);
        await Eventually(async () => (await sut.SendAsync(sut[2], HttpMethod.Get, "/test/holding", null)).Body == "1", "the exclusive request did not start holding");

        var readOnHolder = await sut.ReadEventuallyAsync(sut[2], session, 1);
        var readElsewhere = await sut.ReadEventuallyAsync(sut[3], session, 1);
        var stillHolding = !hold.IsCompleted;
        await sut.SendAsync(sut[2], HttpMethod.Post, "/test/release", null);
        var held = await hold;

        Assert.That(stillHolding, Is.True, "the reads completed while the exclusive request held the lock");
        Assert.That(readOnHolder, Is.EqualTo(1), "a read sees the last committed state");
        Assert.That(readElsewhere, Is.EqualTo(1));
        Assert.That(held.Status, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(held.Body, Is.EqualTo("2"));
        Assert.That(await sut.ReadEventuallyAsync(sut[3], session, 2), Is.EqualTo(2));
    }

    [Test]
    public async Task Delete_InvalidatesTheSessionOnEveryNode()
    {
        var sut = _cluster;
        var session = await sut.CreateSessionAsync(sut[1]);
        await sut.IncrementAsync(sut[2], session);

        var deleted = await sut.SendAsync(sut[3], HttpMethod.Delete, "/session", session);

        Assert.That(deleted.Status, Is.EqualTo(HttpStatusCode.NoContent));
        foreach (var node in sut.Nodes)
            await Eventually(async () => await sut.ReadAsync(node, session) == 0, $"the session still exists on {node.NodeId}");
    }

    [Test]
    public async Task Cluster_OnEveryNode_ListsTheSameThreeMembers()
    {
        var sut = _cluster;

        var statuses = await Task.WhenAll(sut.Nodes.Select(sut.StatusAsync));

        foreach (var (status, node) in statuses.Zip(sut.Nodes))
        {
            Assert.That(status.GetProperty("nodeId").GetString(), Is.EqualTo(node.NodeId));
            Assert.That(status.GetProperty("ready").GetBoolean(), Is.True);
            var members = status.GetProperty("members").EnumerateArray().Select(m => m.GetProperty("nodeId").GetString()).Order().ToArray();
            Assert.That(members, Is.EqualTo(new[] { "node1", "node2", "node3" }));
            Assert.That(status.GetProperty("viewId").GetInt64(), Is.EqualTo(statuses[0].GetProperty("viewId").GetInt64()));
            Assert.That(status.GetProperty("replication").GetProperty("acks").GetInt32(), Is.EqualTo(1));
            Assert.That(status.GetProperty("store").GetString(), Is.EqualTo(store));
            Assert.That(status.GetProperty("transport").GetString(), Is.EqualTo(transport));
            var counters = status.GetProperty("counters");
            foreach (var name in new[] { "multicast.members", "multicast.sessions", "multicast.channel.retransmissions", "multicast.channel.rejected_forged", "multicast.transport.send_errors", "multicast.store.lock_waits" })
                Assert.That(counters.TryGetProperty(name, out _), Is.True, name);
        }
    }

    private static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"Timed out: {what}");
            await Task.Delay(50);
        }
    }
}
