using HepDb.Backups;

namespace HepDb.Tests.Unit;

/// <summary>The local backup store: an object appears whole on commit or not at all, nothing half-written is listed
/// or left behind, only the service user can read it, and names cannot leave the folder.</summary>
public sealed class FolderBackupStoreTests : IDisposable
{
    private const UnixFileMode Folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode File600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "hepdb-store-" + Guid.NewGuid().ToString("N"));
    private readonly FolderBackupStore _store;

    public FolderBackupStoreTests() => _store = new FolderBackupStore(Path.Combine(_dir, "data", "backups"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string[] AllFiles() => Directory.GetFiles(_store.Root, "*", SearchOption.AllDirectories);

    private async Task<List<string>> ListAsync()
    {
        var names = new List<string>();
        await foreach (var name in _store.ListAsync(Ct))
            names.Add(name);
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    private async Task PutAsync(string name, byte[] data)
    {
        await using var upload = await _store.BeginAsync(name, Ct);
        await upload.Stream.WriteAsync(data, Ct);
        await upload.CommitAsync(Ct);
    }

    private async Task<byte[]?> GetAsync(string name)
    {
        await using var stream = await _store.OpenReadAsync(name, Ct);
        if (stream is null)
            return null;
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy, Ct);
        return copy.ToArray();
    }

    [Fact]
    public async Task An_object_is_visible_only_once_committed()
    {
        var data = new byte[3 * 1024 * 1024 + 5];
        Random.Shared.NextBytes(data);
        const string name = "acc1/db1/b1.bak";

        await using (var upload = await _store.BeginAsync(name, Ct))
        {
            await upload.Stream.WriteAsync(data, Ct);
            Assert.Null(await _store.OpenReadAsync(name, Ct));
            Assert.Null(await _store.SizeAsync(name, Ct));
            Assert.Empty(await ListAsync());
            await upload.CommitAsync(Ct);
            await Assert.ThrowsAsync<InvalidOperationException>(() => upload.CommitAsync(Ct));
        }

        Assert.Equal(data, await GetAsync(name));
        Assert.Equal(data.Length, await _store.SizeAsync(name, Ct));
        Assert.Equal([name], await ListAsync());
        Assert.Equal([Path.Combine(_store.Root, "acc1", "db1", "b1.bak")], AllFiles());

        await using (var stream = await _store.OpenReadAsync(name, Ct))
        {
            var file = Assert.IsType<FileStream>(stream);
            Assert.True(file.IsAsync);
            Assert.False(file.CanWrite);
        }

        // A second commit under the same name replaces the object; deleting it twice is fine.
        await PutAsync(name, [1, 2, 3]);
        Assert.Equal([1, 2, 3], await GetAsync(name));
        await _store.DeleteAsync(name, Ct);
        await _store.DeleteAsync(name, Ct);
        await _store.DeleteAsync("nowhere/at/all.bak", Ct);
        Assert.Null(await GetAsync(name));
        Assert.Empty(await ListAsync());
    }

    [Fact]
    public async Task An_upload_disposed_without_a_commit_leaves_no_file()
    {
        await using (var upload = await _store.BeginAsync("acc1/db1/b1.bak", Ct))
            await upload.Stream.WriteAsync(new byte[100_000], Ct);

        // The caller may close the stream itself, before giving up or before committing.
        await using (var upload = await _store.BeginAsync("acc1/db2/b2.bak", Ct))
        {
            await upload.Stream.WriteAsync(new byte[10], Ct);
            await upload.Stream.DisposeAsync();
        }
        Assert.Empty(AllFiles());
        Assert.Empty(await ListAsync());

        await using (var upload = await _store.BeginAsync("acc1/db2/b3.bak", Ct))
        {
            await upload.Stream.WriteAsync(new byte[] { 9, 8, 7 }, Ct);
            await upload.Stream.DisposeAsync();
            await upload.CommitAsync(Ct);
        }
        Assert.Equal([9, 8, 7], await GetAsync("acc1/db2/b3.bak"));
        Assert.Single(AllFiles());
    }

    [Fact]
    public async Task Removing_partials_clears_what_a_crash_left_and_keeps_committed_objects()
    {
        await PutAsync("acc1/db1/kept.bak", [1]);
        var abandoned = await _store.BeginAsync("acc1/db1/crashed.bak", Ct); // never committed nor disposed: a crash
        await abandoned.Stream.WriteAsync(new byte[1000], Ct);
        await abandoned.Stream.FlushAsync(Ct);
        Directory.CreateDirectory(Path.Combine(_store.Root, "acc2", "db9"));
        await File.WriteAllBytesAsync(Path.Combine(_store.Root, "acc2", "db9", "old.bak.0123abcd.part"), [1, 2], Ct);

        Assert.Equal(["acc1/db1/kept.bak"], await ListAsync());
        Assert.Equal(3, AllFiles().Length);

        await _store.RemovePartialsAsync(Ct);
        Assert.Equal([Path.Combine(_store.Root, "acc1", "db1", "kept.bak")], AllFiles());
        Assert.Equal(["acc1/db1/kept.bak"], await ListAsync());
        await abandoned.DisposeAsync(); // its file is gone already: not an error
    }

    [Fact]
    public async Task Folders_are_0700_and_files_0600()
    {
        Assert.Equal(Folder, File.GetUnixFileMode(_store.Root));
        Assert.Equal(Folder, File.GetUnixFileMode(Path.Combine(_dir, "data"))); // every folder it had to create

        await using var upload = await _store.BeginAsync("acc1/db1/b1.bak", Ct);
        Assert.Equal(File600, File.GetUnixFileMode(Assert.Single(AllFiles()))); // already while being written
        await upload.CommitAsync(Ct);

        Assert.Equal(File600, File.GetUnixFileMode(Path.Combine(_store.Root, "acc1", "db1", "b1.bak")));
        Assert.Equal(Folder, File.GetUnixFileMode(Path.Combine(_store.Root, "acc1")));
        Assert.Equal(Folder, File.GetUnixFileMode(Path.Combine(_store.Root, "acc1", "db1")));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/etc/passwd")]
    [InlineData("../outside.bak")]
    [InlineData("acc1/../../outside.bak")]
    [InlineData("acc1/..")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("acc1/./b.bak")]
    [InlineData("acc1//b.bak")]
    [InlineData("acc1/")]
    [InlineData("acc1\\b.bak")]
    [InlineData("acc1/b c.bak")]
    [InlineData("acc1/b\n.bak")]
    [InlineData("acc1/bäk")]
    [InlineData("acc1/b.bak.1234.part")]
    public async Task Names_outside_the_rules_are_refused(string name)
    {
        Assert.False(BackupNames.IsValid(name));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _store.BeginAsync(name, Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _store.OpenReadAsync(name, Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _store.DeleteAsync(name, Ct));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => _store.SizeAsync(name, Ct));
        Assert.Empty(AllFiles());
        Assert.False(File.Exists(Path.Combine(_dir, "data", "outside.bak")));
    }

    [Fact]
    public async Task The_list_holds_committed_objects_only()
    {
        await PutAsync("ACC1/DB1/B1.bak", [1]);
        await PutAsync("ACC1/DB1/B2.bak", [2]);
        await PutAsync("acc-2/db_2/b.3.bak", [3]);
        await using var inProgress = await _store.BeginAsync("ACC1/DB1/B3.bak", Ct);
        await inProgress.Stream.WriteAsync(new byte[10], Ct);
        await File.WriteAllTextAsync(Path.Combine(_store.Root, "ACC1", "not a backup.txt"), "stray", Ct);

        Assert.Equal(["ACC1/DB1/B1.bak", "ACC1/DB1/B2.bak", "acc-2/db_2/b.3.bak"], await ListAsync());
    }
}
