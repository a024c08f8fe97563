using System.IO.Compression;
using System.Net;
using System.Text.Json;
using HepDb.Backups;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Tests.Backups;

/// <summary>Backups through the management API (SPEC §3b), with the real servers, dump tools and clients: a database
/// with tables, a view, a trigger and 50 MB of rows is backed up, emptied, restored and equal row by row; a download
/// loads with the engine's own client; tenants never reach each other's backups.</summary>
public sealed class BackupApiTests(EngineServers engines, SharedApp shared) : IClassFixture<SharedApp>
{
    public static TheoryData<string> Engines => new() { "mariadb", "postgres" };

    internal static string BackupsOf(string id) => $"{Paths.Database(id)}/backups";
    internal static string Download(string id, string backupId) => $"{BackupsOf(id)}/{backupId}/download";
    internal static string Restore(string id, string backupId) => $"{BackupsOf(id)}/{backupId}/restore";

    [Theory, MemberData(nameof(Engines))]
    public async Task Fifty_megabytes_with_a_view_and_a_trigger_are_backed_up_emptied_restored_and_equal_row_by_row(string engine)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, engine);
        await TenantData.FillAsync(db.ConnectionString, engine, rows: 50_000); // 50,000 rows of 1 KiB
        var before = await TenantData.ChecksumAsync(db.ConnectionString, engine);

        var taken = await Shape.SuccessAsync(await account.Api.PostAsync(BackupsOf(db.Id), null), HttpStatusCode.Created);
        var backup = taken.GetProperty("backup");
        Shape.HasExactlyKeys(backup, ["createdAt", "id", "kind", "sizeBytes", "status"]);
        Assert.Equal("manual", backup.GetProperty("kind").GetString());
        Assert.Equal("complete", backup.GetProperty("status").GetString());
        var backupId = backup.GetProperty("id").GetString()!;
        Assert.Matches(Shape.IsoMillis(), backup.GetProperty("createdAt").GetString()!);
        Assert.InRange(backup.GetProperty("sizeBytes").GetInt64(), 1, 50L << 20); // compressed

        // The kept file is encrypted: none of the rows' text is in it.
        var file = Directory.GetFiles(Path.Combine(app.DataDir, "backups"), $"{backupId}.bak", SearchOption.AllDirectories).Single();
        var raw = await File.ReadAllBytesAsync(file, TestContext.Current.CancellationToken);
        Assert.DoesNotContain(TenantData.Marker, System.Text.Encoding.ASCII.GetString(raw), StringComparison.Ordinal);

        await Tenant.MustRunAsync(db.ConnectionString, "DROP VIEW big_view; DROP TABLE audit_trail; DROP TABLE big;");
        var restored = await Shape.SuccessAsync(await account.Api.PostAsync(Restore(db.Id, backupId), null), HttpStatusCode.OK);
        Assert.Equal(db.Id, restored.GetProperty("database").GetProperty("id").GetString());
        Assert.Equal("active", restored.GetProperty("database").GetProperty("status").GetString());

        Assert.Equal(before, await TenantData.ChecksumAsync(db.ConnectionString, engine));
        // The view answers, the tenant still writes and owns what it restored, and the trigger fires.
        Assert.Equal("50000", await Tenant.MustRunAsync(db.ConnectionString, "SELECT COUNT(*) FROM big_view"));
        await Tenant.MustRunAsync(db.ConnectionString, "INSERT INTO big (id, payload) VALUES (900001, 'after restore')");
        Assert.Equal("1", await Tenant.MustRunAsync(db.ConnectionString, "SELECT COUNT(*) FROM audit_trail WHERE big_id = 900001"));
        if (engine == "postgres")
            Assert.Equal(db.DbUser, await Tenant.MustRunAsync(db.ConnectionString, "SELECT tableowner FROM pg_tables WHERE tablename = 'big'"));

        // The safety copy taken before the restore is gone, the list shows only the manual backup, and both are audited.
        var list = await Shape.SuccessAsync(await account.Api.GetAsync(BackupsOf(db.Id)), HttpStatusCode.OK);
        Assert.Equal([backupId], list.GetProperty("backups").EnumerateArray().Select(b => b.GetProperty("id").GetString()!).ToArray());
        var (kinds, actions) = await app.WithDbAsync(async m => (
            await m.Backups.Where(b => b.DatabaseId == db.Id).Select(b => b.Kind).ToListAsync(),
            await m.AuditLog.Where(a => a.AccountId == account.Id && a.Action.StartsWith("backup.")).Select(a => a.Action).ToListAsync()));
        Assert.Equal([BackupKind.Manual], kinds);
        Assert.Equal(["backup.created", "backup.restored"], actions.Order().ToArray());
    }

    [Theory, MemberData(nameof(Engines))]
    public async Task A_downloaded_backup_loads_into_a_fresh_database_with_the_engines_own_client(string engine)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, engine);
        await TenantData.FillAsync(db.ConnectionString, engine, rows: 2_000);
        var before = await TenantData.ChecksumAsync(db.ConnectionString, engine);
        var backupId = (await Shape.SuccessAsync(await account.Api.PostAsync(BackupsOf(db.Id), null), HttpStatusCode.Created))
            .GetProperty("backup").GetProperty("id").GetString()!;

        var response = await account.Api.GetAsync(Download(db.Id, backupId), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(Shape.NoStore(response));
        var fileName = response.Content.Headers.ContentDisposition?.FileNameStar ?? response.Content.Headers.ContentDisposition?.FileName;
        Assert.EndsWith(engine == "postgres" ? ".dump" : ".sql.gz", fileName?.Trim('"'));
        var path = Path.Combine(app.DataDir, $"download-{backupId}");
        await using (var file = File.Create(path))
            await (await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken)).CopyToAsync(file, TestContext.Current.CancellationToken);

        // A fresh database on the server, loaded by the administrator with the engine's own client from the file alone.
        var fresh = $"restore_check_{Guid.NewGuid():N}"[..30];
        var loaded = await Native.LoadDownloadAsync(engines, engine, fresh, path);
        Assert.True(loaded.Ok, loaded.ToString());
        try
        {
            Assert.Equal(before, await Native.ChecksumAsAdminAsync(engines, engine, fresh));
        }
        finally
        {
            await Native.DropAsync(engines, engine, fresh);
        }
        var audit = await app.WithDbAsync(m => m.AuditLog.CountAsync(a => a.AccountId == account.Id && a.Action == "backup.downloaded"));
        Assert.Equal(1, audit);
    }

    [Fact]
    public async Task Another_tenant_cannot_list_download_or_restore_a_backup_and_learns_nothing_of_it()
    {
        var app = shared.For(engines);
        var owner = await app.CreateAccountAsync();
        var other = await app.CreateAccountAsync();
        var ownerDb = await app.CreateDatabaseAsync(owner, "mariadb");
        var otherDb = await app.CreateDatabaseAsync(other, "mariadb");
        await Tenant.MustRunAsync(ownerDb.ConnectionString, "CREATE TABLE secret (v VARCHAR(20)); INSERT INTO secret VALUES ('owner-only')");
        var backupId = (await Shape.SuccessAsync(await owner.Api.PostAsync(BackupsOf(ownerDb.Id), null), HttpStatusCode.Created))
            .GetProperty("backup").GetProperty("id").GetString()!;

        await Shape.FailureAsync(await other.Api.GetAsync(BackupsOf(ownerDb.Id)), 404, "NOT_FOUND");
        await Shape.FailureAsync(await other.Api.PostAsync(BackupsOf(ownerDb.Id), null), 404, "NOT_FOUND");
        await Shape.FailureAsync(await other.Api.GetAsync(Download(ownerDb.Id, backupId)), 404, "NOT_FOUND");
        await Shape.FailureAsync(await other.Api.PostAsync(Restore(ownerDb.Id, backupId), null), 404, "NOT_FOUND");
        // Nor through its own database: the backup belongs to another database.
        await Shape.FailureAsync(await other.Api.GetAsync(Download(otherDb.Id, backupId)), 404, "NOT_FOUND");
        await Shape.FailureAsync(await other.Api.PostAsync(Restore(otherDb.Id, backupId), null), 404, "NOT_FOUND");
        Assert.Equal("0", await Tenant.MustRunAsync(otherDb.ConnectionString,
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE table_name = 'secret'"));
        var list = await Shape.SuccessAsync(await other.Api.GetAsync(BackupsOf(otherDb.Id)), HttpStatusCode.OK);
        Assert.Empty(list.GetProperty("backups").EnumerateArray());
    }

    [Fact]
    public async Task Backup_files_are_private_to_hepdb_and_unreadable_by_the_engines_service_users()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, "postgres");
        var backupId = (await Shape.SuccessAsync(await account.Api.PostAsync(BackupsOf(db.Id), null), HttpStatusCode.Created))
            .GetProperty("backup").GetProperty("id").GetString()!;
        var folder = Path.Combine(app.DataDir, "backups");
        var file = Directory.GetFiles(folder, $"{backupId}.bak", SearchOption.AllDirectories).Single();

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        for (var dir = Path.GetDirectoryName(file)!; dir.Length >= folder.Length; dir = Path.GetDirectoryName(dir)!)
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(dir));
        // The PostgreSQL server runs as the postgres user (MariaDB's local server as root: see docs/backups.md).
        var asPostgres = await Clients.RunAsync("setpriv", ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", "cat", file], null);
        Assert.False(asPostgres.Ok, asPostgres.ToString());
        Assert.Contains("Permission denied", asPostgres.Error);
    }

    [Fact]
    public async Task Manual_backups_are_limited_per_day_by_the_plan_and_a_suspended_account_cannot_download()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync(); // Free: 3 a day
        var db = await app.CreateDatabaseAsync(account, "mariadb");
        var taken = new List<string>();
        for (var i = 0; i < 3; i++)
            taken.Add((await Shape.SuccessAsync(await account.Api.PostAsync(BackupsOf(db.Id), null), HttpStatusCode.Created))
                .GetProperty("backup").GetProperty("id").GetString()!);
        var first = taken[0];
        var refused = await Shape.FailureAsync(await account.Api.PostAsync(BackupsOf(db.Id), null), 403, "BACKUP_LIMIT_REACHED");
        Assert.Contains("3 backup(s) per database per day", refused);
        Assert.Equal(3, (await Shape.SuccessAsync(await account.Api.GetAsync(BackupsOf(db.Id)), HttpStatusCode.OK)).GetProperty("backups").GetArrayLength());

        await app.WithDbAsync(m => m.Accounts.Where(a => a.Id == account.Id).ExecuteUpdateAsync(s => s.SetProperty(a => a.SuspendedAt, DateTime.UtcNow)));
        // The key itself would be refused by the cascade; here only the account is marked, to reach the backup rules.
        await Shape.FailureAsync(await account.Api.GetAsync(Download(db.Id, first)), 403, "ACCOUNT_SUSPENDED");
        await Shape.FailureAsync(await account.Api.PostAsync(Restore(db.Id, first), null), 403, "ACCOUNT_SUSPENDED");
    }

    [Fact]
    public async Task Unknown_ids_wrong_methods_and_bodies_get_the_catalogs_answers()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, "postgres");
        await Shape.FailureAsync(await account.Api.GetAsync(BackupsOf("01JUNKNOWNUNKNOWNUNKNOWN00")), 404, "NOT_FOUND");
        await Shape.FailureAsync(await account.Api.GetAsync(Download(db.Id, "01JUNKNOWNUNKNOWNUNKNOWN00")), 404, "NOT_FOUND");
        await Shape.FailureAsync(await account.Api.PostAsync(Restore(db.Id, "01JUNKNOWNUNKNOWNUNKNOWN00"), null), 404, "NOT_FOUND");
        var delete = await account.Api.DeleteAsync(BackupsOf(db.Id));
        await Shape.FailureAsync(delete, 405, "METHOD_NOT_ALLOWED");
        Assert.Equal("GET, POST", delete.Content.Headers.Allow.Count > 0 ? string.Join(", ", delete.Content.Headers.Allow) : string.Join(", ", delete.Headers.GetValues("Allow")));
        await Shape.FailureAsync(await account.Api.PostAsync(BackupsOf(db.Id), new StringContent("x", System.Text.Encoding.UTF8, "text/plain")), 415, "UNSUPPORTED_MEDIA_TYPE");
        Assert.Empty(await app.WithDbAsync(m => m.Backups.Where(b => b.DatabaseId == db.Id).ToListAsync()));
    }
}

/// <summary>Tenant data for backup tests: a table of 1 KiB rows, a view over it, and a trigger writing an audit row.</summary>
internal static class TenantData
{
    public const string Marker = "hepdb-row-marker";

    public static async Task FillAsync(string connectionString, string engine, int rows)
    {
        if (engine == "postgres")
            await Tenant.MustRunAsync(connectionString, $"""
                CREATE TABLE big (id INT PRIMARY KEY, payload TEXT, note TEXT);
                CREATE TABLE audit_trail (big_id INT, at TIMESTAMPTZ DEFAULT now());
                CREATE VIEW big_view AS SELECT id, length(payload) AS len FROM big;
                CREATE FUNCTION log_big() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit_trail (big_id) VALUES (NEW.id); RETURN NEW; END $$;
                INSERT INTO big SELECT n, '{Marker}-' || repeat(md5(n::text), 31), CASE WHEN n % 7 = 0 THEN NULL ELSE 'ünï ' || n END FROM generate_series(1, {rows}) n;
                CREATE TRIGGER big_audit AFTER INSERT ON big FOR EACH ROW EXECUTE FUNCTION log_big();
                """);
        else
            await Tenant.MustRunAsync(connectionString, $"""
                CREATE TABLE big (id INT PRIMARY KEY, payload TEXT, note VARCHAR(40)) CHARACTER SET utf8mb4;
                CREATE TABLE audit_trail (big_id INT, at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
                CREATE VIEW big_view AS SELECT id, LENGTH(payload) AS len FROM big;
                INSERT INTO big SELECT seq, CONCAT('{Marker}-', REPEAT(MD5(seq), 31)), IF(seq % 7 = 0, NULL, CONCAT('ünï ', seq)) FROM seq_1_to_{rows};
                CREATE TRIGGER big_audit AFTER INSERT ON big FOR EACH ROW INSERT INTO audit_trail (big_id) VALUES (NEW.id);
                """);
    }

    /// <summary>Row count and a checksum over every row in id order.</summary>
    public static Task<string> ChecksumAsync(string connectionString, string engine) =>
        Tenant.MustRunAsync(connectionString, Query(engine));

    public static string Query(string engine) => engine == "postgres"
        ? "SELECT count(*) || ':' || md5(string_agg(id || '|' || payload || '|' || coalesce(note, '∅'), ',' ORDER BY id)) FROM big"
        : "SELECT CONCAT(COUNT(*), ':', SUM(CRC32(CONCAT_WS('|', id, payload, COALESCE(note, '∅')))), ':', BIT_XOR(CRC32(CONCAT_WS('|', id, payload, COALESCE(note, '∅'))))) FROM big";
}

/// <summary>The engines' own clients run by the administrator, as an operator would with a downloaded backup.</summary>
internal static class Native
{
    public static async Task<ClientResult> LoadDownloadAsync(EngineServers engines, string engine, string database, string file)
    {
        if (engine == "postgres")
        {
            var created = await PsqlAdminAsync(engines, "postgres", $"CREATE DATABASE {database}");
            if (!created.Ok) return created;
            return await Clients.RunAsync("pg_restore", ["--no-owner", "--no-privileges", "--exit-on-error", "-h", "127.0.0.1", "-p", engines.Engines.Postgres.Port.ToString(),
                "-U", "postgres", "-d", database, file], new() { ["PGPASSWORD"] = engines.Engines.Postgres.AdminPassword! });
        }
        var create = await MariaDbAdminAsync(engines, $"CREATE DATABASE {database}");
        if (!create.Ok) return create;
        var sql = Path.ChangeExtension(file, ".sql");
        await using (var gz = new GZipStream(File.OpenRead(file), CompressionMode.Decompress))
        await using (var output = File.Create(sql))
            await gz.CopyToAsync(output);
        return await Clients.RunAsync("sh", ["-c", $"mariadb --no-defaults -h 127.0.0.1 -P {engines.Engines.MariaDb.Port} -u root {database} < '{sql}'"],
            new() { ["MYSQL_PWD"] = engines.Engines.MariaDb.AdminPassword! });
    }

    public static async Task<string> ChecksumAsAdminAsync(EngineServers engines, string engine, string database)
    {
        var result = engine == "postgres"
            ? await PsqlAdminAsync(engines, database, TenantData.Query(engine))
            : await MariaDbAdminAsync(engines, $"USE {database}; {TenantData.Query(engine)}");
        Assert.True(result.Ok, result.ToString());
        return result.Output.Trim();
    }

    public static Task<ClientResult> DropAsync(EngineServers engines, string engine, string database) => engine == "postgres"
        ? PsqlAdminAsync(engines, "postgres", $"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        : MariaDbAdminAsync(engines, $"DROP DATABASE IF EXISTS {database}");

    private static Task<ClientResult> PsqlAdminAsync(EngineServers engines, string database, string sql) =>
        Clients.RunAsync("psql", ["-X", "-v", "ON_ERROR_STOP=1", "-At", "-h", "127.0.0.1", "-p", engines.Engines.Postgres.Port.ToString(), "-U", "postgres", "-d", database, "-c", sql],
            new() { ["PGPASSWORD"] = engines.Engines.Postgres.AdminPassword! });

    private static Task<ClientResult> MariaDbAdminAsync(EngineServers engines, string sql) =>
        Clients.RunAsync("mariadb", ["--no-defaults", "--batch", "--skip-column-names", "-h", "127.0.0.1", "-P", engines.Engines.MariaDb.Port.ToString(), "-u", "root", "-e", sql],
            new() { ["MYSQL_PWD"] = engines.Engines.MariaDb.AdminPassword! });
}
