using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace HepDb.Backups;

/// <summary>
/// Where backup files live: a flat namespace of objects named by relative paths such as
/// <c>ACCOUNTID/DATABASEID/BACKUPID.bak</c> (the characters <c>[A-Za-z0-9_./-]</c> only, segments separated by
/// <c>/</c>, no empty, <c>.</c> or <c>..</c> segment, not ending in <c>.part</c>; anything else is refused with an
/// <see cref="ArgumentException"/>, see <see cref="BackupNames.Validate"/>). The bytes stored are already compressed and
/// sealed (<see cref="Security.SealedStream"/>): a store only keeps them.
/// <para>
/// The contract is small so that an S3-compatible store can implement it as well as the local
/// <see cref="FolderBackupStore"/>: <see cref="BeginAsync"/> starts a multipart upload, the upload's stream sends a
/// part whenever it has buffered enough, <see cref="IBackupUpload.CommitAsync"/> completes the multipart upload (the
/// object appears whole, under its name, at that moment), and disposing an upload that was not committed aborts it.
/// <see cref="RemovePartialsAsync"/> is "abort every incomplete multipart upload" (or a bucket lifecycle rule).
/// </para>
/// </summary>
public interface IBackupStore
{
    /// <summary>Starts writing the object <paramref name="name"/>. Nothing is visible under that name until
    /// <see cref="IBackupUpload.CommitAsync"/> succeeds, which replaces an object of the same name; disposing the
    /// upload without committing removes what was written.</summary>
    Task<IBackupUpload> BeginAsync(string name, CancellationToken ct);

    /// <summary>A readable stream of a committed object, or null when there is none by that name.</summary>
    Task<Stream?> OpenReadAsync(string name, CancellationToken ct);

    /// <summary>Deletes a committed object and whatever an abandoned upload of that name left (the upload of a backup
    /// whose HepDb instance died); an absent one is not an error. Not to be called while an upload of the name runs.</summary>
    Task DeleteAsync(string name, CancellationToken ct);

    /// <summary>The size in bytes of a committed object, or null when there is none by that name.</summary>
    Task<long?> SizeAsync(string name, CancellationToken ct);

    /// <summary>The names of all committed objects, in no particular order; uploads in progress or abandoned are not listed.</summary>
    IAsyncEnumerable<string> ListAsync(CancellationToken ct);

    /// <summary>Removes what uploads left half-written (a crash, a killed process). Call it when no upload is in
    /// progress, at startup: it also removes the data of uploads that are still being written.</summary>
    Task RemovePartialsAsync(CancellationToken ct);
}

/// <summary>One object being written (<see cref="IBackupStore.BeginAsync"/>). Write through <see cref="Stream"/>, then
/// <see cref="CommitAsync"/>; dispose in every case (without a commit, disposing discards the data).</summary>
public interface IBackupUpload : IAsyncDisposable
{
    /// <summary>Where the object's bytes are written. The caller may dispose it before committing.</summary>
    Stream Stream { get; }

    /// <summary>Makes the object durable and visible under its name, in one step.</summary>
    Task CommitAsync(CancellationToken ct);
}

/// <summary>The rules for backup object names, shared by every store.</summary>
public static partial class BackupNames
{
    /// <summary>The suffix of half-written files; no committed name ends with it.</summary>
    public const string PartialSuffix = ".part";

    private const int MaxLength = 1024;

    [GeneratedRegex("^[A-Za-z0-9_./-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex Allowed();

    /// <summary>Whether <paramref name="name"/> is an acceptable object name.</summary>
    public static bool IsValid(string? name) =>
        !string.IsNullOrEmpty(name)
        && name.Length <= MaxLength
        && Allowed().IsMatch(name)
        && !name.EndsWith(PartialSuffix, StringComparison.Ordinal)
        && name.Split('/').All(segment => segment is not ("" or "." or ".."));

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="name"/> is an acceptable object name.</summary>
    public static void Validate(string name, string paramName = "name")
    {
        if (!IsValid(name))
            throw new ArgumentException(
                $"Invalid backup object name '{name}': a relative path of [A-Za-z0-9_./-], no empty, '.' or '..' segment, not ending in '{PartialSuffix}'.",
                paramName);
    }
}

/// <summary>
/// Backups as files under a local folder (by default <c>{DataDir}/backups</c>). The folder and every folder made in it
/// are created with mode 0700, files with mode 0600. An upload is written to <c>{name}.{random}.part</c> next to its
/// final place, and a commit flushes it to disk and renames it into place, so a reader sees a whole file or none.
/// </summary>
public sealed class FolderBackupStore : IBackupStore
{
    private const int BufferSize = 1 << 20;
    private const UnixFileMode FolderPermissions = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode FilePermissions = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public FolderBackupStore(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
        CreateFolders(Root);
    }

    /// <summary>The folder backups are kept in (absolute).</summary>
    public string Root { get; }

    /// <summary>Creates <paramref name="path"/> and each missing folder above it with mode 0700
    /// (<see cref="Directory.CreateDirectory(string, UnixFileMode)"/> gives the mode to the last folder only).</summary>
    private static void CreateFolders(string path)
    {
        if (Directory.Exists(path))
            return;
        if (Path.GetDirectoryName(path) is { } parent)
            CreateFolders(parent);
        Directory.CreateDirectory(path, FolderPermissions);
    }

    private string PathOf(string name)
    {
        BackupNames.Validate(name);
        return Path.Combine(Root, name);
    }

    public Task<IBackupUpload> BeginAsync(string name, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var path = PathOf(name);
        CreateFolders(Path.GetDirectoryName(path)!);
        return Task.FromResult<IBackupUpload>(new Upload($"{path}.{Guid.NewGuid():N}{BackupNames.PartialSuffix}", path));
    }

    public Task<Stream?> OpenReadAsync(string name, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var path = PathOf(name);
        try
        {
            return Task.FromResult<Stream?>(new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.Open,
                Access = FileAccess.Read,
                Share = FileShare.Read | FileShare.Delete,
                BufferSize = BufferSize,
                Options = FileOptions.SequentialScan | FileOptions.Asynchronous,
            }));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public Task DeleteAsync(string name, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        try
        {
            var path = PathOf(name);
            File.Delete(path); // an absent file is not an error for File.Delete
            foreach (var partial in Directory.EnumerateFiles(Path.GetDirectoryName(path)!, Path.GetFileName(path) + ".*" + BackupNames.PartialSuffix))
                File.Delete(partial);
        }
        catch (DirectoryNotFoundException)
        {
        }
        return Task.CompletedTask;
    }

    public Task<long?> SizeAsync(string name, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var info = new FileInfo(PathOf(name));
        return Task.FromResult<long?>(info.Exists ? info.Length : null);
    }

    public async IAsyncEnumerable<string> ListAsync([EnumeratorCancellation] CancellationToken ct)
    {
        await Task.Yield();
        foreach (var path in Files())
        {
            ct.ThrowIfCancellationRequested();
            var name = Path.GetRelativePath(Root, path).Replace(Path.DirectorySeparatorChar, '/');
            if (BackupNames.IsValid(name)) // partial files, and anything else that is not a backup, are left out
                yield return name;
        }
    }

    public Task RemovePartialsAsync(CancellationToken ct)
    {
        foreach (var path in Files())
        {
            ct.ThrowIfCancellationRequested();
            if (path.EndsWith(BackupNames.PartialSuffix, StringComparison.Ordinal))
                File.Delete(path);
        }
        return Task.CompletedTask;
    }

    private IEnumerable<string> Files() => Directory.EnumerateFiles(Root, "*", new EnumerationOptions
    {
        RecurseSubdirectories = true,
        IgnoreInaccessible = true,
        AttributesToSkip = FileAttributes.ReparsePoint, // symbolic links are not followed
    });

    private sealed class Upload(string partial, string path) : IBackupUpload
    {
        private readonly FileStream _file = new(partial, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            BufferSize = BufferSize,
            Options = FileOptions.Asynchronous,
            UnixCreateMode = FilePermissions,
        });
        private bool _committed;
        private bool _disposed;

        public Stream Stream => _file;

        public async Task CommitAsync(CancellationToken ct)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_committed)
                throw new InvalidOperationException("The upload is already committed.");
            if (_file.CanWrite)
            {
                await _file.FlushAsync(ct);
                _file.Flush(flushToDisk: true);
                await _file.DisposeAsync();
            }
            else
            {
                // The caller closed the stream (its data reached the OS then): flush the file to disk through a new handle.
                using var handle = File.OpenHandle(partial, FileMode.Open, FileAccess.Write);
                using var again = new FileStream(handle, FileAccess.Write, bufferSize: 0);
                again.Flush(flushToDisk: true);
            }
            ct.ThrowIfCancellationRequested();
            File.Move(partial, path, overwrite: true); // rename(2): atomic, a reader sees the old file or the whole new one
            _committed = true;
        }

        public async ValueTask DisposeAsync()
        {
            if (_disposed)
                return;
            _disposed = true;
            try
            {
                await _file.DisposeAsync();
            }
            finally
            {
                if (!_committed)
                    File.Delete(partial);
            }
        }
    }
}
