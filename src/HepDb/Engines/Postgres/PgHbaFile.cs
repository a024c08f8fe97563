using System.Diagnostics;
using System.Net;
using System.Text;
using Npgsql;

namespace HepDb.Engines.Postgres;

/// <summary>
/// HepDb's rules in a PostgreSQL server's <c>pg_hba.conf</c>: a block between two marker lines, placed before every other
/// rule (the first matching line decides), holding for each tenant with an IP allowlist one line per allowed range and
/// a final <c>reject</c> for any other address. Lines outside the block are the operator's (for a local server, HepDb's
/// fixed ones, see <see cref="LocalFile"/>) and are never touched.
/// <para>A change is written to a new file that replaces the old one at once (same owner and mode), checked with
/// <c>pg_hba_file_rules</c> (the server parses the file on disk as it would on reload) and put back if the server finds
/// an error; only then is the configuration reloaded, and the change returns once new sessions use it. Changes of one
/// file are serialised across processes with a lock file next to it.</para>
/// </summary>
public sealed class PgHbaFile(string path, bool requireTls)
{
    public const string Begin = "# BEGIN HepDb allowlists: managed by HepDb, do not edit between these lines";
    public const string End = "# END HepDb allowlists";

    public string Path { get; } = path;

    /// <summary>The whole file of a local server: socket logins with a password, the administrator from loopback without
    /// TLS (HepDb's own connections), HepDb's block, then everyone else over TLS only (or with or without it when TLS is
    /// not required). <paramref name="block"/> is the block's current lines (kept across restarts).</summary>
    public static string LocalFile(string adminUser, bool requireTls, IEnumerable<string> block)
    {
        var admin = Quote(adminUser);
        var s = new StringBuilder();
        s.Append("# pg_hba.conf of HepDb's local PostgreSQL server, written by HepDb at every start.\n");
        s.Append("local   all  all  scram-sha-256\n");
        s.Append($"host    all  {admin}  127.0.0.1/32  scram-sha-256\n");
        s.Append($"host    all  {admin}  ::1/128  scram-sha-256\n");
        s.Append(Begin).Append('\n');
        foreach (var line in block) s.Append(line).Append('\n');
        s.Append(End).Append('\n');
        s.Append(requireTls ? "hostssl all  all  all  scram-sha-256\n" : "host    all  all  all  scram-sha-256\n");
        return s.ToString();
    }

    /// <summary>The lines of HepDb's block in <paramref name="text"/> (none when it has no block).</summary>
    public static List<string> BlockOf(string text)
    {
        var lines = text.Split('\n');
        var begin = Array.IndexOf(lines, Begin);
        var end = Array.IndexOf(lines, End);
        return begin < 0 || end < begin ? [] : lines[(begin + 1)..end].Where(l => l.Length > 0).ToList();
    }

    /// <summary>The rules that let <paramref name="user"/> into <paramref name="database"/> only from
    /// <paramref name="ranges"/> (none: no rules, so the server's general rules apply).</summary>
    public IEnumerable<string> RulesFor(string database, string user, IReadOnlyList<IPNetwork> ranges)
    {
        if (ranges.Count == 0) yield break;
        var (db, role) = (Quote(database), Quote(user));
        foreach (var range in ranges) yield return $"{(requireTls ? "hostssl" : "host   ")} {db} {role} {range} scram-sha-256";
        yield return $"host    {db} {role} all reject";
    }

    /// <summary>Replaces the rules of <paramref name="user"/> with <paramref name="rules"/>, checks the file with the
    /// server, reloads it and waits until new sessions follow it. Returns without writing when nothing changes.</summary>
    public async Task SetRulesAsync(string user, IEnumerable<string> rules, Func<CancellationToken, Task<NpgsqlConnection>> openAdmin, CancellationToken ct)
    {
        await using var _ = await LockAsync(ct);
        var before = await File.ReadAllTextAsync(Path, ct);
        var block = BlockOf(before);
        var role = Quote(user);
        var next = block.Where(l => Fields(l).ElementAtOrDefault(2) != role).Concat(rules).ToList();
        if (next.SequenceEqual(block)) return;
        await WriteAsync(WithBlock(before, next), ct);
        try
        {
            await using var conn = await openAdmin(ct);
            var errors = await ErrorsAsync(conn, ct);
            if (errors is not null) throw new EngineCommandException(EngineKind.Postgres, "pg_hba", $"The server refused the new {Path}: {errors}");
            var loaded = await LoadTimeAsync(openAdmin, ct);
            await using (var reload = new NpgsqlCommand("SELECT pg_reload_conf()", conn)) await reload.ExecuteNonQueryAsync(ct);
            await WaitForReloadAsync(openAdmin, loaded, ct);
        }
        catch
        {
            await WriteAsync(before, CancellationToken.None);
            throw;
        }
    }

    /// <summary><paramref name="text"/> with HepDb's block holding <paramref name="block"/>; a file without a block gets
    /// one at the top, before the operator's rules.</summary>
    public static string WithBlock(string text, IEnumerable<string> block)
    {
        var lines = text.Split('\n').ToList();
        var begin = lines.IndexOf(Begin);
        var end = lines.IndexOf(End);
        var inner = block.ToList();
        if (begin < 0 || end < begin) return string.Join('\n', [Begin, .. inner, End, .. lines]);
        return string.Join('\n', [.. lines[..(begin + 1)], .. inner, .. lines[end..]]);
    }

    /// <summary>A database or role name as pg_hba.conf takes it (double-quoted, so it is never a keyword).</summary>
    private static string Quote(string name) => "\"" + TenantNames.Require(name) + "\"";

    private static string[] Fields(string line) => line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);

    private static async Task<string?> ErrorsAsync(NpgsqlConnection conn, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT string_agg('line ' || line_number || ': ' || error, '; ') FROM pg_hba_file_rules WHERE error IS NOT NULL", conn);
        return await cmd.ExecuteScalarAsync(ct) as string;
    }

    /// <summary>When the configuration was last loaded, as a new session sees it (a session keeps the time it started with).</summary>
    private static async Task<DateTime> LoadTimeAsync(Func<CancellationToken, Task<NpgsqlConnection>> openAdmin, CancellationToken ct)
    {
        await using var conn = await openAdmin(ct);
        await using var cmd = new NpgsqlCommand("SELECT pg_conf_load_time()", conn);
        return (DateTime)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private static async Task WaitForReloadAsync(Func<CancellationToken, Task<NpgsqlConnection>> openAdmin, DateTime loaded, CancellationToken ct)
    {
        var waited = Stopwatch.StartNew();
        while (await LoadTimeAsync(openAdmin, ct) <= loaded)
        {
            if (waited.Elapsed > TimeSpan.FromSeconds(10))
                throw new EngineUnavailableException(EngineKind.Postgres, "the server did not reload its configuration within 10 s");
            await Task.Delay(20, ct);
        }
    }

    /// <summary>Writes <paramref name="text"/> beside the file, gives it the file's owner and mode, and moves it over.</summary>
    private async Task WriteAsync(string text, CancellationToken ct)
    {
        var part = Path + ".hepdb-new";
        await File.WriteAllTextAsync(part, text, ct);
        File.SetUnixFileMode(part, File.GetUnixFileMode(Path));
        using (var chown = Process.Start(new ProcessStartInfo("chown", ["--reference=" + Path, part]) { UseShellExecute = false })!)
            await chown.WaitForExitAsync(ct); // as root this keeps the server's ownership; otherwise the file stays ours
        File.Move(part, Path, overwrite: true);
    }

    /// <summary>An exclusive lock on <c>{file}.hepdb-lock</c> (every HepDb process on the machine honours it).</summary>
    private async Task<FileStream> LockAsync(CancellationToken ct)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(Path + ".hepdb-lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(20, ct);
            }
        }
    }
}
