using System.IO.Compression;
using System.Text;
using HepDb.Api;
using HepDb.Backups;
using HepDb.Databases;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Backups;

/// <summary>Imports (issue 13) through <see cref="BackupService.ImportAsync"/>, with the real servers and clients: a
/// .sql.gz into MariaDB and a plain .sql and a pg_dump custom archive into PostgreSQL land as the tenant's own objects
/// next to what was there; an import larger than the free storage, one that stops at an error, and one that tries what
/// the tenant may not (create users or roles, read mysql.user, become postgres) are refused and leave the database
/// exactly as it was; another account's database is not found.</summary>
public sealed class ImportTests(EngineServers engines, SharedApp shared) : IClassFixture<SharedApp>
{
    private const string Existing = "CREATE TABLE existing (id INT PRIMARY KEY, body VARCHAR(64)); INSERT INTO existing VALUES (1, 'before'), (2, 'kept');";

    private const string Imported = """
        CREATE TABLE imported (id INT PRIMARY KEY, body VARCHAR(64));
        INSERT INTO imported VALUES (1, 'one'), (2, 'two'), (3, 'three');
        CREATE VIEW imported_view AS SELECT id, body FROM imported WHERE id > 1;
        """;

    [Theory]
    [InlineData("mariadb", true)]
    [InlineData("postgres", false)]
    [InlineData("mariadb", false)]
    [InlineData("postgres", true)]
    public async Task Plain_and_gzipped_sql_add_tables_and_rows_the_tenant_owns_next_to_what_was_there(string engine, bool gzip)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, engine);
        await Tenant.MustRunAsync(db.ConnectionString, Existing);
        var sql = Encoding.UTF8.GetBytes(Imported);

        var imported = await ImportAsync(app, account.Id, db.Id, gzip ? Gzip(sql) : sql);
        Assert.True(imported.Ok, imported.Problem?.Message);
        Assert.Equal(db.Id, imported.Value!.Database.Id);
        Assert.Null(imported.Value.Database.RestoreBackupId);

        Assert.Equal("one,two,three", await Tenant.MustRunAsync(db.ConnectionString, Concat(engine, "body", "imported")));
        Assert.Equal("2", await Tenant.MustRunAsync(db.ConnectionString, "SELECT COUNT(*) FROM imported_view"));
        Assert.Equal("before,kept", await Tenant.MustRunAsync(db.ConnectionString, Concat(engine, "body", "existing"))); // added to, not replaced
        // The tenant's own: it writes to, alters and drops what it imported.
        await Tenant.MustRunAsync(db.ConnectionString, "INSERT INTO imported VALUES (4, 'mine'); ALTER TABLE imported ADD COLUMN extra INT; DROP VIEW imported_view;");
        if (engine == "postgres")
            Assert.Equal(db.DbUser, await Tenant.MustRunAsync(db.ConnectionString, "SELECT tableowner FROM pg_tables WHERE tablename = 'imported'"));

        // Audited with the SQL's size (uncompressed), no safety copy left, the size measured again.
        var (detail, backups, measured) = await app.WithDbAsync(async m => (
            await m.AuditLog.Where(a => a.AccountId == account.Id && a.Action == "database.imported" && a.TargetId == db.Id).Select(a => a.Detail).SingleAsync(),
            await m.Backups.CountAsync(b => b.DatabaseId == db.Id),
            await m.Databases.Where(d => d.Id == db.Id).Select(d => d.SizeRefreshedAt).SingleAsync()));
        Assert.Equal($"{sql.Length} bytes of SQL", detail);
        Assert.Equal(0, backups);
        Assert.NotNull(measured);
    }

    [Fact]
    public async Task A_pg_dump_custom_archive_of_another_database_imports_as_the_tenants_own_tables()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, "postgres");
        await Tenant.MustRunAsync(db.ConnectionString, Existing);
        var scratch = $"scratch_{Guid.NewGuid():N}"[..24];
        var archive = Path.Combine(Path.GetTempPath(), $"{scratch}.dump");
        try
        {
            Must(await Admin.PsqlAsync(engines, "postgres", $"CREATE DATABASE {scratch}"));
            Must(await Admin.PsqlAsync(engines, scratch, """
                CREATE TABLE archived (id SERIAL PRIMARY KEY, body TEXT NOT NULL, at TIMESTAMPTZ DEFAULT now());
                INSERT INTO archived (body) SELECT 'row ' || n FROM generate_series(1, 500) n;
                CREATE INDEX archived_body ON archived (body);
                CREATE VIEW archived_view AS SELECT id, upper(body) AS body FROM archived;
                """));
            Must(await Admin.RunPostgresAsync(engines, "pg_dump", ["-Fc", "-d", scratch, "-f", archive]));
            var bytes = await File.ReadAllBytesAsync(archive, TestContext.Current.CancellationToken);
            Assert.Equal("PGDMP", Encoding.ASCII.GetString(bytes, 0, 5));

            var imported = await ImportAsync(app, account.Id, db.Id, bytes);
            Assert.True(imported.Ok, imported.Problem?.Message);
            Assert.Equal("500", await Tenant.MustRunAsync(db.ConnectionString, "SELECT COUNT(*) FROM archived"));
            Assert.Equal("ROW 7", await Tenant.MustRunAsync(db.ConnectionString, "SELECT body FROM archived_view WHERE id = 7"));
            Assert.Equal(db.DbUser, await Tenant.MustRunAsync(db.ConnectionString, "SELECT tableowner FROM pg_tables WHERE tablename = 'archived'"));
            // The sequence came along and is the tenant's: new rows get the next ids.
            Assert.Equal("501", await Tenant.MustRunAsync(db.ConnectionString, "WITH n AS (INSERT INTO archived (body) VALUES ('new') RETURNING id) SELECT id FROM n"));
            Assert.Equal("before,kept", await Tenant.MustRunAsync(db.ConnectionString, Concat("postgres", "body", "existing")));
        }
        finally
        {
            File.Delete(archive);
            await Admin.PsqlAsync(engines, "postgres", $"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)");
        }
    }

    [Fact]
    public async Task A_pg_dump_custom_archive_is_refused_by_a_mariadb_database()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, "mariadb");
        await Tenant.MustRunAsync(db.ConnectionString, Existing);
        var before = await SnapshotAsync("mariadb", db.ConnectionString);
        var refused = await ImportAsync(app, account.Id, db.Id, [.. "PGDMP"u8, 1, 14, 0, 4, 8, 1, 1]);
        Assert.Equal("IMPORT_FAILED", refused.Problem?.Code);
        Assert.Contains("PostgreSQL", refused.Problem!.Message);
        Assert.Equal(before, await SnapshotAsync("mariadb", db.ConnectionString));
    }

    [Theory]
    [InlineData("mariadb")]
    [InlineData("postgres")]
    public async Task An_import_whose_sql_is_larger_than_the_free_storage_is_refused_before_it_runs_and_changes_nothing(string engine)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync(); // Free: 100 MB
        var db = await app.CreateDatabaseAsync(account, engine);
        await Tenant.MustRunAsync(db.ConnectionString, Existing);
        var before = await SnapshotAsync(engine, db.ConnectionString);

        // 101 MB of SQL in a gzip file of about a megabyte: one INSERT, repeated.
        var gz = new MemoryStream();
        var sqlBytes = 0L;
        await using (var zip = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true))
        {
            var create = Encoding.UTF8.GetBytes("CREATE TABLE huge (body TEXT);\n");
            var insert = Encoding.UTF8.GetBytes($"INSERT INTO huge VALUES ('{new string('x', 1000)}');\n");
            zip.Write(create);
            sqlBytes += create.Length;
            while (sqlBytes <= 101L << 20) { zip.Write(insert); sqlBytes += insert.Length; }
        }
        Assert.InRange(gz.Length, 1, 8L << 20);

        var refused = await ImportAsync(app, account.Id, db.Id, gz.ToArray());
        Assert.Equal("STORAGE_QUOTA_EXCEEDED", refused.Problem?.Code);
        Assert.Equal(403, refused.Problem!.Status);
        Assert.StartsWith($"The import holds {sqlBytes / 1_048_576.0:0.#} MB of SQL", refused.Problem.Message);
        Assert.EndsWith("Nothing was changed.", refused.Problem.Message);

        Assert.Equal(before, await SnapshotAsync(engine, db.ConnectionString));
        // Refused before anything ran: no safety copy was even taken, the journal is clear, and nothing is audited.
        var (backups, journal, audited) = await app.WithDbAsync(async m => (
            await m.Backups.CountAsync(b => b.DatabaseId == db.Id),
            await m.Databases.Where(d => d.Id == db.Id).Select(d => d.RestoreBackupId).SingleAsync(),
            await m.AuditLog.CountAsync(a => a.AccountId == account.Id && a.Action == "database.imported")));
        Assert.Equal(0, backups);
        Assert.Null(journal);
        Assert.Equal(0, audited);
    }

    [Theory]
    [InlineData("mariadb")]
    [InlineData("postgres")]
    public async Task An_import_that_stops_at_an_error_in_the_middle_is_undone_and_the_database_is_exactly_as_before(string engine)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, engine);
        await Tenant.MustRunAsync(db.ConnectionString, Existing);
        var before = await SnapshotAsync(engine, db.ConnectionString);

        // MariaDB commits DDL at once, so the first half stays in the server until the safety copy is put back.
        var sql = """
            CREATE TABLE first_half (id INT PRIMARY KEY);
            INSERT INTO first_half VALUES (1);
            UPDATE existing SET body = 'changed' WHERE id = 1;
            DELETE FROM existing WHERE id = 2;
            INSERT INTO no_such_table VALUES (1);
            CREATE TABLE second_half (id INT);
            """;
        var refused = await ImportAsync(app, account.Id, db.Id, Encoding.UTF8.GetBytes(sql));
        Assert.Equal("IMPORT_FAILED", refused.Problem?.Code);
        Assert.StartsWith("The import stopped at an error and was undone", refused.Problem!.Message);
        Assert.Contains("no_such_table", refused.Problem.Message);

        Assert.Equal(before, await SnapshotAsync(engine, db.ConnectionString));
        Assert.Equal("before", await Tenant.MustRunAsync(db.ConnectionString, "SELECT body FROM existing WHERE id = 1"));
        // The tenant's user is unlocked again and writes; the safety copy is gone and the journal clear.
        await Tenant.MustRunAsync(db.ConnectionString, "INSERT INTO existing VALUES (3, 'after')");
        var (backups, journal) = await app.WithDbAsync(async m => (
            await m.Backups.CountAsync(b => b.DatabaseId == db.Id),
            await m.Databases.Where(d => d.Id == db.Id).Select(d => d.RestoreBackupId).SingleAsync()));
        Assert.Equal(0, backups);
        Assert.Null(journal);
    }

    public static TheoryData<string, string> Forbidden => new()
    {
        { "mariadb", "CREATE USER {role}@'%' IDENTIFIED BY 'pw-12345';" },
        { "mariadb", "SELECT * FROM mysql.user;" },
        { "postgres", "CREATE ROLE {role} SUPERUSER LOGIN PASSWORD 'pw-12345';" },
        { "postgres", "CREATE ROLE {role} LOGIN;" },
        { "postgres", "SET ROLE postgres;" },
        { "postgres", "ALTER ROLE {tenant} SUPERUSER;" },
        { "postgres", "COPY existing FROM PROGRAM 'id';" },
    };

    [Theory, MemberData(nameof(Forbidden))]
    public Task An_import_cannot_do_what_the_tenant_cannot(string engine, string statement) => AssertForbiddenAsync(engine, statement);

    /// <summary>MariaDB answers a GRANT beyond the tenant's rights with error 1045 "Access denied for user … (using
    /// password: YES)", the text of a refused login; the client names the script's line, which tells the two apart.</summary>
    [Fact]
    public Task An_import_cannot_grant_the_tenant_everything() => AssertForbiddenAsync("mariadb", "GRANT ALL PRIVILEGES ON *.* TO {tenant}@'%';");

    private async Task AssertForbiddenAsync(string engine, string statement)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, engine);
        await Tenant.MustRunAsync(db.ConnectionString, Existing);
        var before = await SnapshotAsync(engine, db.ConnectionString);
        var role = $"evil_{Guid.NewGuid():N}"[..20];
        var sql = $"CREATE TABLE marker_table (id INT);\n{statement.Replace("{role}", role).Replace("{tenant}", db.DbUser)}\nCREATE TABLE after_table (id INT);\n";

        var refused = await ImportAsync(app, account.Id, db.Id, Encoding.UTF8.GetBytes(sql));
        Assert.Equal("IMPORT_FAILED", refused.Problem?.Code);
        Assert.Equal(before, await SnapshotAsync(engine, db.ConnectionString));

        // No such user or role exists, and the tenant gained nothing.
        if (engine == "postgres")
        {
            Assert.Equal("0", Must(await Admin.PsqlAsync(engines, "postgres", $"SELECT COUNT(*) FROM pg_roles WHERE rolname = '{role}'")));
            Assert.Equal("f|f|f", Must(await Admin.PsqlAsync(engines, "postgres",
                $"SELECT rolsuper || '|' || rolcreaterole || '|' || rolcreatedb FROM pg_roles WHERE rolname = '{db.DbUser}'")).Replace("false", "f"));
        }
        else
        {
            Assert.Equal("0", Must(await Admin.MariaDbAsync(engines, $"SELECT COUNT(*) FROM mysql.user WHERE User = '{role}'")));
            await Tenant.MustFailAsync(db.ConnectionString, "SELECT COUNT(*) FROM mysql.user");
        }
        await Tenant.MustRunAsync(db.ConnectionString, "INSERT INTO existing VALUES (3, 'still works')");
    }

    [Theory]
    [InlineData("mariadb")]
    [InlineData("postgres")]
    public async Task Another_accounts_database_is_not_found_and_keeps_its_contents(string engine)
    {
        var app = shared.For(engines);
        var owner = await app.CreateAccountAsync();
        var other = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(owner, engine);
        await Tenant.MustRunAsync(db.ConnectionString, Existing);
        var before = await SnapshotAsync(engine, db.ConnectionString);
        var sql = Encoding.UTF8.GetBytes("DROP TABLE existing; CREATE TABLE taken (id INT);");

        foreach (var id in new[] { db.Id, "01JZZZZZZZZZZZZZZZZZZZZZZZ" })
        {
            var refused = await ImportAsync(app, other.Id, id, sql);
            Assert.Equal("NOT_FOUND", refused.Problem?.Code);
            Assert.Equal(ApiErrors.DatabaseNotFound.Message, refused.Problem!.Message);
        }
        Assert.Equal(before, await SnapshotAsync(engine, db.ConnectionString));
        Assert.Equal(0, await app.WithDbAsync(m => m.AuditLog.CountAsync(a => a.Action == "database.imported" && a.TargetId == db.Id)));
    }

    internal static async Task<Outcome<Imported>> ImportAsync(HepDbApp app, string accountId, string databaseId, byte[] file)
    {
        await using var scope = app.Services.CreateAsyncScope();
        using var upload = new MemoryStream(file, writable: false);
        return await scope.ServiceProvider.GetRequiredService<BackupService>()
            .ImportAsync(accountId, databaseId, upload, HepDb.Audit.Actor.Operator, CancellationToken.None);
    }

    internal static byte[] Gzip(byte[] plain)
    {
        using var output = new MemoryStream();
        using (var zip = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true)) zip.Write(plain);
        return output.ToArray();
    }

    /// <summary>The tables (and views) of the tenant's database, and every row of <c>existing</c>.</summary>
    internal static Task<string> SnapshotAsync(string engine, string connectionString) => Tenant.MustRunAsync(connectionString, engine == "postgres"
        ? "SELECT (SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public') || ' / ' || "
          + "(SELECT string_agg(id || ':' || body, ',' ORDER BY id) FROM existing)"
        : "SELECT CONCAT((SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = DATABASE()), ' / ', "
          + "(SELECT GROUP_CONCAT(CONCAT(id, ':', body) ORDER BY id) FROM existing))");

    private static string Concat(string engine, string column, string table) => engine == "postgres"
        ? $"SELECT string_agg({column}, ',' ORDER BY id) FROM {table}"
        : $"SELECT GROUP_CONCAT({column} ORDER BY id) FROM {table}";

    private static string Must(ClientResult result)
    {
        Assert.True(result.Ok, result.ToString());
        return result.Output.Trim();
    }
}

/// <summary>The engines' own clients run as the administrator (to prepare data and to look at what a tenant cannot see).</summary>
internal static class Admin
{
    public static Task<ClientResult> PsqlAsync(EngineServers engines, string database, string sql) =>
        RunPostgresAsync(engines, "psql", ["-X", "-v", "ON_ERROR_STOP=1", "-At", "-d", database, "-c", sql]);

    public static Task<ClientResult> RunPostgresAsync(EngineServers engines, string tool, string[] args) =>
        Clients.RunAsync(tool, [.. args, "-h", "127.0.0.1", "-p", engines.Engines.Postgres.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres"],
            new() { ["PGPASSWORD"] = engines.Engines.Postgres.AdminPassword! });

    public static Task<ClientResult> MariaDbAsync(EngineServers engines, string sql) =>
        Clients.RunAsync("mariadb", ["--no-defaults", "--batch", "--skip-column-names", "-h", "127.0.0.1", "-P", engines.Engines.MariaDb.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-u", "root", "-e", sql], new() { ["MYSQL_PWD"] = engines.Engines.MariaDb.AdminPassword! });
}
