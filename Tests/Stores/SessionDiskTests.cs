using Microsoft.Extensions.Logging.Abstractions;
using Multicast.Sessions;
using Multicast.Stores;
using Multicast.Tests.TestSupport;
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

    /// <summary>The directory changes an acknowledgement depends on (finding 10): what a durable commit or a replica's
    /// acknowledgement waits for (<see cref="SessionDisk.FlushAsync"/>) after each.</summary>
    public enum DirectoryChange { Copy, Tombstone, Delete, Primary }

    [Test]
    public async Task FlushAsync_AfterAChangeOfTheDirectory_CompletesOnlyOnceTheDirectoryIsSyncedAfterIt([Values] DirectoryChange change)
    {
        var id = SessionIds.New(1);
        var directory = Path.GetFullPath(_directory);
        var target = Path.Combine(directory, change == DirectoryChange.Primary ? "primary.record" : id + ".session");
        var gate = new ManualResetEventSlim(initialState: true);
        var syncs = new List<(string Directory, bool Renamed)>();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The change is in the directory when the sync runs: the file is in place (no .tmp left), or gone.
        bool Done() => change == DirectoryChange.Delete ? !File.Exists(target) : File.Exists(target) && !File.Exists(target + ".tmp");
        await using var sut = new SessionDisk(_directory, NullLogger.Instance, new StoreCounters(), synced =>
        {
            lock (syncs)
                syncs.Add((synced, Done()));
            entered.TrySetResult();
            gate.Wait();
        });
        if (change == DirectoryChange.Delete)
        {
            sut.Save(Record(id, 1, "v"));
            await sut.FlushAsync();
            entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (syncs)
                syncs.Clear();
        }
        gate.Reset();

        switch (change)
        {
            case DirectoryChange.Copy:
                sut.Save(Record(id, 2, "v"));
                break;
            case DirectoryChange.Tombstone:
                sut.SaveTombstone(id, epoch: 3, version: 5, recentCommits: [9]);
                break;
            case DirectoryChange.Delete:
                sut.Delete(id);
                break;
            case DirectoryChange.Primary:
                sut.SavePrimary(new PrimaryRecord(3, ["a", "b"], [10, 20], []));
                break;
        }
        var flushed = sut.FlushAsync();
        var first = await Eventually.Within(Task.WhenAny(entered.Task, flushed), "the sync or the flush");

        Assert.That(first, Is.SameAs(entered.Task), "the flush completed without syncing the directory");
        Assert.That(flushed.IsCompleted, Is.False, "the flush waits for the directory sync");
        gate.Set();
        await Eventually.Within(flushed, "the flush");
        lock (syncs)
            Assert.That(syncs, Is.EqualTo(new[] { (directory, true) }), "one sync of the directory, after the change");
    }

    [Test]
    public async Task FlushAsync_TheDirectorySyncFails_FailsAndSyncsAgainAtTheNextFlush()
    {
        var id = SessionIds.New(1);
        var syncs = 0;
        await using var sut = new SessionDisk(_directory, NullLogger.Instance, new StoreCounters(), _ =>
        {
            if (Interlocked.Increment(ref syncs) == 1)
                throw new IOException("fsync failed: errno 5");
        });
        sut.Save(Record(id, 1, "v"));

        var failed = sut.FlushAsync();
        Assert.That(async () => await Eventually.Within(failed, "the first flush"), Throws.InstanceOf<IOException>(),
            "a commit waiting for it is not answered as durable");

        await Eventually.Within(sut.FlushAsync(), "the second flush");
        Assert.That(Volatile.Read(ref syncs), Is.EqualTo(2), "the rename is not durable yet: the next flush syncs it");
    }

    [Test]
    [Platform("Linux")]
    public void SyncDirectory_ADirectory_Succeeds()
    {
        Directory.CreateDirectory(_directory);
        File.WriteAllText(Path.Combine(_directory, "a"), "a");
        File.Move(Path.Combine(_directory, "a"), Path.Combine(_directory, "b"));

        Assert.That(() => Interop.SyncDirectory(_directory), Throws.Nothing);
    }

    [Test]
    [Platform("Linux")]
    public void SyncDirectory_NoDirectoryThere_ThrowsIOExceptionNamingThePathAndErrno()
    {
        var file = Path.Combine(Path.GetTempPath(), "multicast-not-a-dir-" + Guid.NewGuid().ToString("N"));
        File.WriteAllText(file, "x");
        try
        {
            Assert.That(() => Interop.SyncDirectory(_directory), Throws.InstanceOf<IOException>()
                .With.Message.EqualTo($"open({_directory}) failed: errno 2"), "missing: ENOENT");
            Assert.That(() => Interop.SyncDirectory(file), Throws.InstanceOf<IOException>()
                .With.Message.EqualTo($"open({file}) failed: errno 20"), "a file, not a directory: ENOTDIR (O_DIRECTORY)");
        }
        finally
        {
            File.Delete(file);
        }
    }
}
