using Microsoft.Extensions.Logging.Abstractions;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Wire;

namespace Multicast.Tests.Stores;

public sealed class SessionDiskTests
{
    private string _directory = string.Empty;

    [SetUp]
    public void NewDirectory() => _directory = Path.Combine(Path.GetTempPath(), "multicast-disk-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void RemoveDirectory()
    {
        if (Directory.Exists(_directory))
            Directory.Delete(_directory, recursive: true);
    }

    private static SessionState Record(string id, long version, string value) => new()
    {
        Id = id,
        Version = version,
        LastWriter = "node1",
        Attributes = new Dictionary<string, byte[]>(StringComparer.Ordinal) { ["k"] = System.Text.Encoding.UTF8.GetBytes(value) },
        CreatedAt = DateTimeOffset.UnixEpoch,
        LastAccessedAt = DateTimeOffset.UnixEpoch,
        IdleTimeout = TimeSpan.FromMinutes(20),
    };

    [Test]
    public async Task Save_ThenLoad_ReturnsTheLastVersionOfEachSession()
    {
        var counters = new StoreCounters();
        var a = SessionIds.New(1);
        var b = SessionIds.New(2);
        await using (var sut = new SessionDisk(_directory, NullLogger.Instance, counters))
        {
            sut.Save(Record(a, 1, "one"));
            sut.Save(Record(a, 2, "two"));
            sut.Save(Record(b, 1, "gone"));
            sut.Delete(b);
            await sut.FlushAsync();
        }

        await using var again = new SessionDisk(_directory, NullLogger.Instance, counters);
        var loaded = again.Load(1024 * 1024);

        Assert.That(loaded.Select(u => (u.Id, u.Version)), Is.EqualTo(new[] { (a, 2L) }));
        Assert.That(System.Text.Encoding.UTF8.GetString(loaded[0].Attributes.Single().Value), Is.EqualTo("two"));
    }

    [Test]
    public async Task SaveTombstone_ThenLoad_ReturnsTheRemovalWithItsEpochAndVersion()
    {
        var id = SessionIds.New(1);
        await using (var sut = new SessionDisk(_directory, NullLogger.Instance, new StoreCounters()))
        {
            sut.Save(Record(id, 4, "v"));
            sut.SaveTombstone(id, epoch: 3, version: 5, recentCommits: [9]);
            await sut.FlushAsync();
        }

        await using var again = new SessionDisk(_directory, NullLogger.Instance, new StoreCounters());
        var loaded = again.Load(1024 * 1024).Single();

        Assert.That((loaded.Id, loaded.Removed, loaded.Epoch, loaded.Version), Is.EqualTo((id, true, 3L, 5L)));
        Assert.That(loaded.RecentCommits, Is.EqualTo(new ulong[] { 9 }));
    }

    [Test]
    public async Task Load_EveryTruncation_IsDetected()
    {
        var id = SessionIds.New(1);
        await using (var writer = new SessionDisk(_directory, NullLogger.Instance, new StoreCounters()))
        {
            writer.Save(Record(id, 1, "some value"));
            await writer.FlushAsync();
        }
        var path = Path.Combine(_directory, id + ".session");
        var whole = await File.ReadAllBytesAsync(path);

        for (var length = 0; length < whole.Length; length++)
        {
            await File.WriteAllBytesAsync(path, whole[..length]);
            Assert.That(SessionDisk.TryRead(path, 1024 * 1024, out _, out var reason), Is.False, $"{length} bytes");
            Assert.That(reason, Is.Not.Null);
        }
    }

    [Test]
    public async Task Load_AFlippedBit_IsDetectedAndCounted()
    {
        var counters = new StoreCounters();
        var id = SessionIds.New(1);
        await using (var writer = new SessionDisk(_directory, NullLogger.Instance, counters))
        {
            writer.Save(Record(id, 1, "some value"));
            await writer.FlushAsync();
        }
        var path = Path.Combine(_directory, id + ".session");
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[^2] ^= 0x01;
        await File.WriteAllBytesAsync(path, bytes);

        await using var sut = new SessionDisk(_directory, NullLogger.Instance, counters);
        var loaded = sut.Load(1024 * 1024);

        Assert.That(loaded, Is.Empty);
        Assert.That(counters.CorruptFiles, Is.EqualTo(1));
        Assert.That(File.Exists(path + ".corrupt"), Is.True);
    }
    [Test]
    public async Task SavePrimary_ThenLoadPrimary_ReturnsTheLastRecordSaved()
    {
        await using (var sut = new SessionDisk(_directory, NullLogger.Instance, new StoreCounters()))
        {
            Assert.That(sut.LoadPrimary(), Is.Null, "nothing saved yet");
            sut.SavePrimary(new PrimaryRecord(3, ["a", "b"], [10, 20], []));
            sut.SavePrimary(new PrimaryRecord(7, ["a", "b", "c"], [10, 20, 30], ["c"]));
            await sut.FlushAsync();
        }

        await using var again = new SessionDisk(_directory, NullLogger.Instance, new StoreCounters());
        var record = again.LoadPrimary();

        Assert.That(record, Is.Not.Null);
        Assert.That((record!.Epoch, string.Join(",", record.Members), string.Join(",", record.Rings), string.Join(",", record.Passive)),
            Is.EqualTo((7L, "a,b,c", "10,20,30", "c")));
        Assert.That(again.Load(1024 * 1024), Is.Empty, "the record is not taken for a session");
    }

    [Test]
    public async Task LoadPrimary_ADamagedRecord_IsNullCountedAndMovedAside()
    {
        await using (var sut = new SessionDisk(_directory, NullLogger.Instance, new StoreCounters()))
        {
            sut.SavePrimary(new PrimaryRecord(3, ["a", "b"], [10, 20], []));
            await sut.FlushAsync();
        }
        var path = Path.Combine(_directory, "primary.record");
        var bytes = await File.ReadAllBytesAsync(path);
        bytes[^1] ^= 0x40;
        await File.WriteAllBytesAsync(path, bytes);
        var counters = new StoreCounters();

        await using var again = new SessionDisk(_directory, NullLogger.Instance, counters);

        Assert.That(again.LoadPrimary(), Is.Null, "a node that cannot read it remembers nothing: it does not count");
        Assert.That(counters.CorruptFiles, Is.EqualTo(1));
        Assert.That(File.Exists(path + ".corrupt"), Is.True);
    }
}
