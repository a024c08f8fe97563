using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Backups;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Engines.MariaDb;
using HepDb.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MySqlConnector;
using Npgsql;
using static HepDb.Engines.TenantNames;

namespace HepDb.Bench;

/// <summary>
/// Backup and restore throughput (issue 13): for MariaDB and PostgreSQL, one database of <c>--mb</c> MB filled by its
/// tenant, then, alternating in the same run, the bare dump tool with HepDb's own options to /dev/null against
/// <see cref="BackupService.RunAsync"/> (dump, gzip for MariaDB, AES-GCM, folder store), and the bare load tool from a
/// saved dump file into a fresh database against <see cref="BackupService.RestoreAsync"/> (which first takes a safety
/// dump of the current contents; its duration is read from HepDb's own log line and shown separately).
/// </summary>
internal sealed class BackupBench(ServiceProvider services, EnginesOptions engines, BenchSettings settings, BackupLogCapture log, string root)
{
    private const double Mib = 1_048_576.0;
    private const int ChunkRows = 8_192;
    private const string Table = "bench_rows";

    private sealed record Figures(string Engine, long Bytes, long Rows, List<double> BareDump, List<double> Backup, List<double> BareRestore,
        List<double> Restore, List<double> SafetyMs, long BackupBytes, long DumpBytes, bool ChecksumsAgree)
    {
        public double Rate(List<double> ms) => Bytes / Mib / (Stats.Median(ms) / 1000);
    }

    public async Task<int> RunAsync(CancellationToken ct)
    {
        var loadBefore = LoadAverage();
        string accountId;
        await using (var scope = services.CreateAsyncScope())
            accountId = (await scope.ServiceProvider.GetRequiredService<AccountService>()
                .CreateAsync("backup-bench@bench.invalid", Tier.Admin.WireName(), Actor.Operator, ct)).Value!.Id;
        var results = new List<Figures>();
        foreach (var engine in new[] { EngineKind.MariaDb, EngineKind.Postgres })
            results.Add(await RunEngineAsync(engine, accountId, ct));

        Console.WriteLine();
        Console.WriteLine($"Backup and restore throughput, median of {settings.Rounds} alternating rounds (MB = 1,048,576 bytes of the measured database size):");
        foreach (var r in results)
        {
            var e = r.Engine.ToLowerInvariant();
            Console.WriteLine($"  {e,-9} backup  {r.Rate(r.Backup),6:0.0} MB/s vs bare dump    {r.Rate(r.BareDump),6:0.0} MB/s: {r.Rate(r.Backup) / r.Rate(r.BareDump):0.00}x" +
                              $"   ({Stats.Median(r.Backup) / 1000:0.00} s vs {Stats.Median(r.BareDump) / 1000:0.00} s)");
            Console.WriteLine($"  {e,-9} restore {r.Rate(r.Restore),6:0.0} MB/s vs bare restore {r.Rate(r.BareRestore),6:0.0} MB/s: {r.Rate(r.Restore) / r.Rate(r.BareRestore):0.00}x" +
                              $"   ({Stats.Median(r.Restore) / 1000:0.00} s vs {Stats.Median(r.BareRestore) / 1000:0.00} s; includes the safety dump of the current contents)");
            var withoutSafety = r.Restore.Zip(r.SafetyMs, (t, s) => t - s).ToList();
            Console.WriteLine($"  {e,-9} restore without its safety dump {r.Rate(withoutSafety),6:0.0} MB/s: {r.Rate(withoutSafety) / r.Rate(r.BareRestore):0.00}x" +
                              $"   ({Stats.Median(withoutSafety) / 1000:0.00} s; safety dump {Stats.Median(r.SafetyMs) / 1000:0.00} s, from HepDb's log)");
        }
        Console.WriteLine($"  load average (1 min) before {loadBefore}, after {LoadAverage()} on {Environment.ProcessorCount} cores: above the core count, other work shared them");
        foreach (var r in results)
            Console.WriteLine(r.ChecksumsAgree
                ? $"  check {r.Engine}: {r.Rows:N0} rows, the same checksum after the HepDb restore and the bare restore as before"
                : $"  CHECK FAILED {r.Engine}: a restored checksum differs from the original");
        return results.All(r => r.ChecksumsAgree) ? 0 : 1;
    }

    private async Task<Figures> RunEngineAsync(EngineKind engine, string accountId, CancellationToken ct)
    {
        var name = engine.DisplayName();
        var adapter = services.GetRequiredService<EngineRegistry>().Default(engine);
        var server = engine == EngineKind.MariaDb ? engines.MariaDb : engines.Postgres;
        Console.WriteLine();
        Console.WriteLine($"{name} (port {server.Port}):");

        DatabaseAccess access;
        await using (var scope = services.CreateAsyncScope())
        {
            var outcome = await scope.ServiceProvider.GetRequiredService<DatabaseService>()
                .CreateAsync(accountId, $"backup-{engine.WireName()}", engine.WireName(), Actor.Operator, null, ct);
            access = outcome.Ok ? outcome.Value! : throw new InvalidOperationException($"creating the {name} database failed: {outcome.Problem!.Code} {outcome.Problem.Message}");
        }
        var d = access.Database;

        // Fill as the tenant, in chunks, until the engine measures at least --mb MB.
        var target = settings.Mb * 1_048_576L;
        var sw = Stopwatch.StartNew();
        await adapter.ScalarAsTenantAsync(d.DbName, d.DbUser, access.Password, engine == EngineKind.MariaDb
            ? $"CREATE TABLE {Table} (id INT PRIMARY KEY, payload TEXT NOT NULL) ENGINE=InnoDB"
            : $"CREATE TABLE {Table} (id int PRIMARY KEY, payload text NOT NULL)", ct);
        long rows = 0, bytes = 0;
        while (bytes < target)
        {
            var (from, to) = (rows + 1, rows + ChunkRows);
            await adapter.ScalarAsTenantAsync(d.DbName, d.DbUser, access.Password, engine == EngineKind.MariaDb
                ? $"INSERT INTO {Table} SELECT seq, {Payload("seq", engine)} FROM seq_{from}_to_{to}"
                : $"INSERT INTO {Table} SELECT g, {Payload("g", engine)} FROM generate_series({from}, {to}) g", ct);
            rows = to;
            bytes = await MeasureAsync(adapter, d, access.Password, ct);
        }
        var original = await ChecksumAsync(engine, server, d.DbName, ct);
        Console.WriteLine($"  filled by the tenant in {sw.Elapsed.TotalSeconds:0.0} s: {rows:N0} rows of about 1 KiB, measured {bytes / Mib:0.0} MiB " +
                          (engine == EngineKind.MariaDb ? "(information_schema data + index, after ANALYZE TABLE)" : "(pg_database_size)"));

        // The plain dump file the bare restore loads, saved once; this first dump is also the warm-up of both dump paths.
        var dir = Path.Combine(root, "backup-bench");
        Directory.CreateDirectory(dir);
        var dumpFile = Path.Combine(dir, engine.WireName() + ".dump");
        await DumpAsync(engine, server, d.DbName, dumpFile, ct);
        Console.WriteLine($"  bare dump saved once for the bare restore: {new FileInfo(dumpFile).Length / Mib:0.0} MiB " +
                          (engine == EngineKind.MariaDb ? "of plain SQL" : "(pg_dump -Fc archive)"));

        var bareDump = new List<double>();
        var backup = new List<double>();
        Backup? last = null;
        for (var r = 0; r < settings.Rounds; r++)
        {
            // Alternating which goes first keeps either from always inheriting the other's warm caches or background work.
            for (var step = 0; step < 2; step++)
            {
                if ((step + r) % 2 == 0) bareDump.Add(await TimeAsync(() => DumpAsync(engine, server, d.DbName, "/dev/null", ct)));
                else backup.Add(await TimeAsync(async () => last = await BackupAsync(d.Id, ct)));
            }
            Console.WriteLine($"  round {r + 1}: bare dump {bareDump[^1] / 1000:0.00} s, HepDb backup {backup[^1] / 1000:0.00} s");
        }
        Console.WriteLine($"  HepDb backup: {last!.DumpBytes / Mib:0.0} MiB from the dump tool, {last.SizeBytes / Mib:0.0} MiB stored " +
                          (engine == EngineKind.MariaDb ? "(gzip fastest, then AES-256-GCM)" : "(pg_dump -Fc compresses; AES-256-GCM)"));

        var chosen = last!;
        var scratch = $"bench_bare_{engine.WireName()}";
        var bareRestore = new List<double>();
        var restore = new List<double>();
        var safety = new List<double>();
        for (var r = 0; r < settings.Rounds; r++)
        {
            for (var step = 0; step < 2; step++)
            {
                if ((step + r) % 2 == 0)
                {
                    await FreshScratchAsync(engine, server, scratch, d.DbUser, ct); // untimed: an empty database to load into
                    bareRestore.Add(await TimeAsync(() => LoadAsync(engine, server, scratch, d.DbUser, dumpFile, ct)));
                }
                else
                {
                    log.Clear();
                    restore.Add(await TimeAsync(() => RestoreAsync(accountId, d.Id, chosen.Id, ct)));
                    safety.Add(log.SafetyMs.TryDequeue(out var ms) ? ms : double.NaN);
                }
            }
            Console.WriteLine($"  round {r + 1}: bare restore {bareRestore[^1] / 1000:0.00} s, HepDb restore {restore[^1] / 1000:0.00} s " +
                              $"(of which its safety dump {safety[^1] / 1000:0.00} s)");
        }
        var restored = await ChecksumAsync(engine, server, d.DbName, ct);
        var bare = await ChecksumAsync(engine, server, scratch, ct);
        Console.WriteLine($"  checksum (rows:sum) original {original}, after the HepDb restore {restored}, after the bare restore {bare}");
        await DropScratchAsync(engine, server, scratch, ct);
        return new Figures(name, bytes, rows, bareDump, backup, bareRestore, restore, safety, chosen.SizeBytes, chosen.DumpBytes,
            restored == original && bare == original);
    }

    /// <summary>About 1 KiB of text per row: labelled fields of MD5 hex, so it compresses about as well as real data does
    /// (the labels repeat, the hex does not), and the same text on both engines.</summary>
    private static string Payload(string n, EngineKind engine)
    {
        var parts = Enumerable.Range(1, 24).Select(k => engine == EngineKind.MariaDb
            ? $"'field{k}=', MD5({n} * {k} + {k})"
            : $"'field{k}=', md5(({n} * {k} + {k})::text)");
        return $"CONCAT_WS(' ', {string.Join(", ", parts)})";
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
    }

    private static async Task<long> MeasureAsync(IEngineAdapter adapter, DatabaseView d, string password, CancellationToken ct)
    {
        // InnoDB's sizes in information_schema come from persistent statistics; ANALYZE refreshes them.
        if (adapter.Kind == EngineKind.MariaDb) await adapter.ScalarAsTenantAsync(d.DbName, d.DbUser, password, $"ANALYZE TABLE {Table}", ct);
        var scan = await adapter.MeasureSizesAsync([d.DbName], ct);
        return scan.Bytes[d.DbName];
    }

    private async Task<Backup> BackupAsync(string databaseId, CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var record = await scope.ServiceProvider.GetRequiredService<HepDbContext>().Databases.AsNoTracking().SingleAsync(x => x.Id == databaseId, ct);
        var outcome = await scope.ServiceProvider.GetRequiredService<BackupService>().RunAsync(record, BackupKind.Manual, Actor.Operator, ct);
        return outcome.Ok ? outcome.Value! : throw new InvalidOperationException($"backup failed: {outcome.Problem!.Code} {outcome.Problem.Message}");
    }

    private async Task RestoreAsync(string accountId, string databaseId, string backupId, CancellationToken ct)
    {
        await using var scope = services.CreateAsyncScope();
        var outcome = await scope.ServiceProvider.GetRequiredService<BackupService>().RestoreAsync(accountId, databaseId, backupId, Actor.Operator, ct);
        if (!outcome.Ok) throw new InvalidOperationException($"restore failed: {outcome.Problem!.Code} {outcome.Problem.Message}");
    }

    private static async Task<double> TimeAsync(Func<Task> work)
    {
        var sw = Stopwatch.StartNew();
        await work();
        return sw.Elapsed.TotalMilliseconds;
    }

    // ---- The bare tools: the options of MariaDbDumps and PostgresDumps, credentials in a 0600 file, run through sh only
    // for the redirection (the arguments go as "$@", never through the shell's parser).

    private static Task DumpAsync(EngineKind engine, EngineServerOptions server, string dbName, string outputPath, CancellationToken ct) =>
        engine == EngineKind.MariaDb
            ? ToolAsync("mariadb-dump", MariaDbOptionFile(server), file =>
                [
                    $"--defaults-file={file}",
                    "--single-transaction", "--skip-lock-tables", "--skip-add-locks",
                    "--routines", "--triggers", "--events",
                    "--hex-blob", "--default-character-set=utf8mb4", "--no-tablespaces", "--no-create-db",
                    "--max-allowed-packet=1G",
                    Require(dbName),
                ], null, input: null, outputPath, ct)
            : PostgresToolAsync("pg_dump", server, dbName,
                ["--format=custom", "--no-owner", "--no-privileges", "--no-tablespaces", "--no-publications", "--no-subscriptions"],
                input: null, outputPath, ct);

    private static Task LoadAsync(EngineKind engine, EngineServerOptions server, string dbName, string role, string inputPath, CancellationToken ct) =>
        engine == EngineKind.MariaDb
            ? ToolAsync("mariadb", MariaDbOptionFile(server), file =>
                [
                    $"--defaults-file={file}",
                    $"--database={Require(dbName)}",
                    "--binary-mode", "--batch", "--default-character-set=utf8mb4", "--max-allowed-packet=1G",
                    $"--connect-timeout={Math.Max(1, (int)Math.Ceiling(server.ConnectTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture)}",
                ], null, inputPath, output: "/dev/null", ct)
            : PostgresToolAsync("pg_restore", server, dbName,
                ["--no-owner", "--no-privileges", "--no-tablespaces", $"--role={Require(role)}", "--single-transaction", "--exit-on-error"],
                inputPath, output: "/dev/null", ct);

    private static Task PostgresToolAsync(string tool, EngineServerOptions server, string dbName, string[] options, string? input, string output, CancellationToken ct)
    {
        var user = server.AdminUser ?? "postgres";
        return ToolAsync(DumpTool.PostgresTool(tool), $"*:*:*:{DumpTool.PassfileField(user)}:{DumpTool.PassfileField(server.AdminPassword ?? "")}\n",
            _ =>
            [
                .. options, "--no-password", $"--host={server.Host}", $"--port={server.Port.ToString(CultureInfo.InvariantCulture)}",
                $"--username={user}", $"--dbname={Require(dbName)}",
            ],
            file => new Dictionary<string, string> { ["PGPASSFILE"] = file }, input, output, ct);
    }

    private static string MariaDbOptionFile(EngineServerOptions server) =>
        "[client]\n" +
        $"user={DumpTool.OptionValue(server.AdminUser ?? "root")}\n" +
        $"password={DumpTool.OptionValue(server.AdminPassword ?? "")}\n" +
        (server.Host.StartsWith('/')
            ? $"protocol=socket\nsocket={DumpTool.OptionValue(server.Host)}\n"
            : $"protocol=tcp\nhost={DumpTool.OptionValue(server.Host)}\nport={server.Port.ToString(CultureInfo.InvariantCulture)}\n");

    /// <summary>Runs <paramref name="tool"/> with stdin from <paramref name="input"/> (or nothing) and stdout to
    /// <paramref name="output"/> (a file, or /dev/null), the credentials in a 0600 file of a private temp folder.</summary>
    private static async Task ToolAsync(string tool, string credentials, Func<string, IEnumerable<string>> arguments,
        Func<string, IReadOnlyDictionary<string, string>>? environment, string? input, string output, CancellationToken ct)
    {
        var dir = Directory.CreateTempSubdirectory("hepdb-bench-tool-");
        try
        {
            var file = Path.Combine(dir.FullName, "credentials");
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            };
            await using (var f = new StreamWriter(file, options)) await f.WriteAsync(credentials.AsMemory(), ct);
            var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardInput = false };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("exec \"$@\" <\"$BENCH_IN\" >\"$BENCH_OUT\"");
            psi.ArgumentList.Add("sh");
            psi.ArgumentList.Add(tool);
            foreach (var a in arguments(file)) psi.ArgumentList.Add(a);
            psi.Environment["BENCH_IN"] = input ?? "/dev/null";
            psi.Environment["BENCH_OUT"] = output;
            psi.Environment["LC_ALL"] = "C.UTF-8";
            foreach (var (k, v) in environment?.Invoke(file) ?? new Dictionary<string, string>()) psi.Environment[k] = v;
            using var p = Process.Start(psi) ?? throw new InvalidOperationException($"{tool} could not be started");
            var stderr = p.StandardError.ReadToEndAsync(ct);
            await p.WaitForExitAsync(ct);
            var error = (await stderr).Trim();
            if (p.ExitCode != 0) throw new InvalidOperationException($"{Path.GetFileName(tool)} exited with code {p.ExitCode}: {error}");
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    // ---- Admin-side helpers: the scratch database of the bare restore, and the checksums.

    private static async Task FreshScratchAsync(EngineKind engine, EngineServerOptions server, string scratch, string owner, CancellationToken ct)
    {
        await DropScratchAsync(engine, server, scratch, ct);
        if (engine == EngineKind.MariaDb)
            await MariaDbAsync(server, null, $"CREATE DATABASE {MariaDbQuote(scratch)} {MariaDbAdapter.DatabaseOptions}", ct);
        else
            await PostgresAsync(server, "postgres", $"CREATE DATABASE {PostgresQuote(scratch)} OWNER {PostgresQuote(owner)} TEMPLATE template0 ENCODING 'UTF8'", ct);
    }

    private static Task DropScratchAsync(EngineKind engine, EngineServerOptions server, string scratch, CancellationToken ct) =>
        engine == EngineKind.MariaDb
            ? MariaDbAsync(server, null, $"DROP DATABASE IF EXISTS {MariaDbQuote(scratch)}", ct)
            : PostgresAsync(server, "postgres", $"DROP DATABASE IF EXISTS {PostgresQuote(scratch)} WITH (FORCE)", ct);

    /// <summary>Row count and a sum of a hash of every row, read as the administrator.</summary>
    private static Task<string?> ChecksumAsync(EngineKind engine, EngineServerOptions server, string dbName, CancellationToken ct) =>
        engine == EngineKind.MariaDb
            ? MariaDbAsync(server, dbName, $"SELECT CONCAT(COUNT(*), ':', SUM(CRC32(payload) + id)) FROM {Table}", ct)
            : PostgresAsync(server, dbName, $"SELECT count(*)::text || ':' || sum(hashtext(payload)::bigint + id)::text FROM {Table}", ct);

    private static async Task<string?> MariaDbAsync(EngineServerOptions server, string? dbName, string sql, CancellationToken ct)
    {
        await using var conn = new MySqlConnection(MariaDbAdapter.ConnectionStringFor(server, server.AdminUser ?? "root", server.AdminPassword, dbName, pooling: false));
        await conn.OpenAsync(ct);
        await using var cmd = new MySqlCommand(sql, conn) { CommandTimeout = 600 };
        return (await cmd.ExecuteScalarAsync(ct))?.ToString();
    }

    private static async Task<string?> PostgresAsync(EngineServerOptions server, string dbName, string sql, CancellationToken ct)
    {
        var cs = new NpgsqlConnectionStringBuilder
        {
            Host = server.Host, Port = server.Port, Username = server.AdminUser ?? "postgres", Password = server.AdminPassword,
            Database = dbName, Pooling = false, CommandTimeout = 600,
        };
        await using var conn = new NpgsqlConnection(cs.ConnectionString);
        await conn.OpenAsync(ct);
        await using var cmd = new NpgsqlCommand(sql, conn);
        return (await cmd.ExecuteScalarAsync(ct))?.ToString();
    }
}

/// <summary>Reads HepDb's own "backup taken" log line (event 5001) for safety backups: how long a restore's safety dump
/// took, so the restore can be shown with and without it.</summary>
internal sealed class BackupLogCapture : ILoggerProvider, ILogger
{
    public ConcurrentQueue<double> SafetyMs { get; } = new();

    public void Clear() => SafetyMs.Clear();

    public ILogger CreateLogger(string categoryName) => this;

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Id != 5001 || state is not IReadOnlyList<KeyValuePair<string, object?>> fields) return;
        var kind = fields.FirstOrDefault(f => f.Key == "Kind").Value;
        if (kind is BackupKind.Safety && fields.FirstOrDefault(f => f.Key == "Ms").Value is long ms) SafetyMs.Enqueue(ms);
    }

    public void Dispose() { }
}
