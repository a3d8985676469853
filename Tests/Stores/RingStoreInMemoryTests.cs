using Multicast.Messaging;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
using Multicast.Transport;
using Multicast.Transports.InMemory;

namespace Multicast.Tests.Stores;

/// <summary>The ring store's contract on the in-memory transport, and what only the ring does: placement,
/// failover, the owner's return and the disk copy.</summary>
[TestFixture]
public sealed class RingStoreInMemoryTests : ClusterStoreContractTests
{
    private InMemoryHub _hub = new();
    private string _dataRoot = string.Empty;

    [SetUp]
    public void NewHub()
    {
        _hub = new InMemoryHub(seed: Environment.TickCount);
        _dataRoot = Path.Combine(Path.GetTempPath(), "multicast-ring-" + Guid.NewGuid().ToString("N"));
    }

    protected override ITransport CreateTransport(int index) => _hub.CreateTransport();

    protected override IClusterStore CreateStore(IGroupChannel channel, ClusterStoreOptions options, TimeProvider time) =>
        new RingClusterStore(channel, options, time, StoreLog(options));

    protected override ValueTask CleanUpAsync()
    {
        if (Directory.Exists(_dataRoot))
            Directory.Delete(_dataRoot, recursive: true);
        return ValueTask.CompletedTask;
    }

    private string DataDirectory(string node) => Path.Combine(_dataRoot, node);

    /// <summary>A node with one backup and durable commits to its own data directory.</summary>
    private Task<TestNode> StartDiskNodeAsync(string id) => StartNodeAsync(id, o =>
    {
        o.Backups = 1;
        o.DataDirectory = DataDirectory(id);
        o.DurableCommits = true;
    });

    private static int CopiesOf(IEnumerable<TestNode> nodes, string id) => nodes.Count(n => n.Manager.Table.Contains(id));

    private static RingClusterStore Ring(TestNode node) => (RingClusterStore)node.Store;

    private async Task<List<string>> CreateSessionsAsync(TestNode[] on, int count)
    {
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
            ids.Add(await CreateWithAsync(on[i % on.Length], s => s.SetInt32("count", 1)));
        return ids;
    }

    [Test]
    public async Task Sessions_OnFourNodesWithOneBackup_AreEachHeldByExactlyTwo()
    {
        var nodes = await StartClusterAsync(4, o => o.Backups = 1);

        var ids = await CreateSessionsAsync(nodes, 40);

        foreach (var id in ids)
        {
            await Eventually.Until(() => CopiesOf(nodes, id) == 2, $"two copies of {id}");
            Assert.That(nodes.Where(n => n.Manager.Table.Contains(id)).All(n => Ring(n).MustHold(id)), Is.True, "held by its owner and its backup");
        }
        // Each node created ten and backs up its predecessor's ten: sessions x (1 + backups) / nodes.
        Assert.That(nodes.Select(n => n.Manager.Count), Is.All.EqualTo(20));
    }

    [Test]
    public async Task Read_OnANodeWithoutACopy_AsksTheOwnerAndKeepsNothing()
    {
        var nodes = await StartClusterAsync(3, o => o.Backups = 1);
        var id = await CreateWithAsync(nodes[0], s => s.SetInt32("count", 4));
        await HeldEverywhereAsync(nodes, id, 1, "owner and backup hold it");
        var stranger = nodes.Single(n => !Ring(n).MustHold(id));

        var read = await ReadCountAsync(stranger, id);
        var written = await IncrementAsync(stranger, id);

        Assert.That(read, Is.EqualTo(4));
        Assert.That(written, Is.EqualTo(5));
        Assert.That(stranger.Manager.Table.Contains(id), Is.False, "the request's copy is not kept");
        await HeldEverywhereAsync(nodes, id, 2, "the write on owner and backup");
    }

    [Test]
    public async Task Owner_LeavingTheView_ItsBackupServesAndTheBackupCountIsRestored([Values(true, false)] bool graceful)
    {
        var nodes = await StartClusterAsync(4, o =>
        {
            o.Backups = 1;
            o.LockLease = TimeSpan.FromSeconds(5);
        });
        var owner = nodes[0];
        var ids = await CreateSessionsAsync([owner], 12);
        foreach (var id in ids)
            await IncrementAsync(nodes[2], id); // acknowledged by the backup before it returns

        if (graceful)
            await owner.Manager.StopAsync();
        else
            _hub.Partition(TransportAddressOf(owner)); // a crash, as the others see it: silence
        var rest = nodes.Skip(1).ToArray();
        await Eventually.Until(() => rest.All(n => ViewOf(n).Members.Count == 3), "the owner out of every view");

        foreach (var id in ids)
        {
            Assert.That(await IncrementAsync(rest[0], id), Is.EqualTo(3), id);
            await Eventually.Until(() => CopiesOf(rest, id) == 2 && rest.Where(n => n.Manager.Table.Contains(id)).All(n => Ring(n).MustHold(id)), $"two copies of {id} among the survivors");
        }
    }

    private string TransportAddressOf(TestNode node) => ViewOf(node).Find(node.Id)!.Address;

    [Test]
    public async Task Owner_Returning_HoldsItsSessionsBeforeItIsReady()
    {
        var nodes = await StartClusterAsync(3, o => o.Backups = 1);
        var ids = await CreateSessionsAsync([nodes[0]], 10);
        await nodes[0].Manager.StopAsync();
        await Eventually.Until(() => ViewOf(nodes[1]).Members.Count == 2, "node1 gone");
        foreach (var id in ids)
            await IncrementAsync(nodes[1], id);

        var back = await StartNodeAsync("node1", o => o.Backups = 1);

        Assert.That(back.Store.IsReady(), Is.True);
        foreach (var id in ids)
            Assert.That(back.Manager.Table.TryGet(id, out var r) ? r.Version : 0, Is.EqualTo(2), $"{id} caught up before ready");
        foreach (var id in ids)
            Assert.That(await IncrementAsync(back, id), Is.EqualTo(3), id);
        var all = new[] { back, nodes[1], nodes[2] };
        foreach (var id in ids)
            await Eventually.Until(() => CopiesOf(all, id) == 2, $"two copies of {id} again");
    }

    [Test]
    public async Task WholeClusterRestart_WithDurableDiskCopies_LosesNoCommit()
    {
        var first = await StartDiskNodeAsync("node1");
        var second = await StartDiskNodeAsync("node2");
        await Eventually.Until(() => ViewOf(first).Members.Count == 2 && second.Store.IsReady(), "two members");
        var ids = await CreateSessionsAsync([first, second], 20);
        foreach (var id in ids)
            await IncrementAsync(first, id);

        await first.Manager.DisposeAsync();
        await second.Manager.DisposeAsync();
        // The whole cluster comes back. node1 alone remembers a primary of two (node2 may have gone on without it), so it
        // waits for node2 (N16: a member counts only for what it remembers); with node2 back both serve from their disks.
        var starting = StartDiskNodeAsync("node1");
        var other = await StartDiskNodeAsync("node2");
        var again = await starting;

        Assert.That(Ring(again).Counters.LoadedFromDisk, Is.EqualTo(20));
        foreach (var id in ids)
        {
            Assert.That(await ReadCountAsync(again, id), Is.EqualTo(2), id);
            Assert.That(await ReadCountAsync(other, id), Is.EqualTo(2), id);
        }
    }

    [Test]
    public async Task Restart_WithAStaleDiskCopy_TakesThePeersNewerVersion()
    {
        var first = await StartDiskNodeAsync("node1");
        var second = await StartDiskNodeAsync("node2");
        await Eventually.Until(() => ViewOf(first).Members.Count == 2 && second.Store.IsReady(), "two members");
        var id = await CreateWithAsync(first, s => s.SetInt32("count", 1));
        await first.Manager.DisposeAsync();
        await Eventually.Until(() => ViewOf(second).Members.Count == 1, "node1 gone");
        await IncrementAsync(second, id);
        await IncrementAsync(second, id);

        var again = await StartDiskNodeAsync("node1");

        Assert.That(again.Manager.Table.TryGet(id, out var r) ? r.Version : 0, Is.EqualTo(3));
        Assert.That(await ReadCountAsync(again, id), Is.EqualTo(3));
    }

    [Test]
    public async Task Start_WithTruncatedAndCorruptFiles_SkipsAndCountsThem()
    {
        var node = await StartDiskNodeAsync("node1");
        var ids = await CreateSessionsAsync([node], 5);
        await node.Manager.DisposeAsync();
        var files = ids.Select(id => Path.Combine(DataDirectory("node1"), id + ".session")).ToArray();
        var truncated = await File.ReadAllBytesAsync(files[0]);
        await File.WriteAllBytesAsync(files[0], truncated[..(truncated.Length / 2)]);
        var corrupt = await File.ReadAllBytesAsync(files[1]);
        corrupt[^3] ^= 0x5A;
        await File.WriteAllBytesAsync(files[1], corrupt);

        var again = await StartDiskNodeAsync("node1");

        Assert.That(again.Store.IsReady(), Is.True);
        Assert.That(Ring(again).Counters.CorruptFiles, Is.EqualTo(2));
        Assert.That(Ring(again).Counters.LoadedFromDisk, Is.EqualTo(3));
        Assert.That(await ReadCountAsync(again, ids[0]), Is.Null);
        Assert.That(await ReadCountAsync(again, ids[1]), Is.Null);
        foreach (var id in ids.Skip(2))
            Assert.That(await ReadCountAsync(again, id), Is.EqualTo(1), id);
        Assert.That(File.Exists(files[0] + ".corrupt"), Is.True, "moved aside for inspection");
    }
}
