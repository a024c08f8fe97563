using System.IO.Compression;
using HepDb.Engines;

namespace HepDb.Backups;

/// <summary>
/// An uploaded dump, kept in a private temporary file (0600 in a 0700 folder, removed on dispose) so it can be measured
/// before anything runs and then read again. The format is told by its first bytes: gzip (<c>1f 8b</c>, plain SQL inside),
/// a <c>pg_dump</c> custom archive (<c>PGDMP</c>), or plain SQL. <see cref="SqlBytes"/> is the size of the SQL text (a
/// gzip file is read through to count it); for a custom archive, whose data is compressed inside, it is the file's size,
/// so the measurement after the import is what bounds it.
/// </summary>
public sealed class ImportFile : IAsyncDisposable
{
    private readonly DirectoryInfo _dir;
    private readonly string _path;
    private readonly bool _gzip;

    private ImportFile(DirectoryInfo dir, string path, bool gzip, DumpFormat format, long sqlBytes)
    {
        _dir = dir;
        _path = path;
        _gzip = gzip;
        Format = format;
        SqlBytes = sqlBytes;
    }

    public DumpFormat Format { get; }
    public long SqlBytes { get; }

    public static async Task<ImportFile> SpoolAsync(Stream upload, CancellationToken ct)
    {
        var dir = Directory.CreateTempSubdirectory("hepdb-import-");
        var path = Path.Combine(dir.FullName, "upload");
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            };
            await using (var file = new FileStream(path, options))
                await upload.CopyToAsync(file, 1 << 20, ct);
            var head = new byte[5];
            int read;
            await using (var file = File.OpenRead(path))
                read = await file.ReadAtLeastAsync(head, head.Length, throwOnEndOfStream: false, ct);
            var gzip = read >= 2 && head[0] == 0x1f && head[1] == 0x8b;
            var custom = read == 5 && head.AsSpan().SequenceEqual("PGDMP"u8);
            long sqlBytes;
            if (gzip)
            {
                await using var file = File.OpenRead(path);
                await using var text = new GZipStream(file, CompressionMode.Decompress);
                var counted = 0L;
                var buffer = new byte[1 << 16];
                for (int n; (n = await text.ReadAsync(buffer, ct)) > 0;) counted += n;
                sqlBytes = counted;
            }
            else sqlBytes = new FileInfo(path).Length;
            return new ImportFile(dir, path, gzip, custom ? DumpFormat.PostgresCustom : DumpFormat.PlainSql, sqlBytes);
        }
        catch
        {
            dir.Delete(recursive: true);
            throw;
        }
    }

    /// <summary>The SQL (or archive) to hand to the engine's client, decompressed when it was gzip.</summary>
    public Stream OpenSql()
    {
        var file = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
        return _gzip ? new GZipStream(file, CompressionMode.Decompress) : file;
    }

    public ValueTask DisposeAsync()
    {
        try { _dir.Delete(recursive: true); } catch (IOException) { }
        return ValueTask.CompletedTask;
    }
}
