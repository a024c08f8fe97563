using HepDb.Accounts;
using HepDb.Databases;
using HepDb.Quotas;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MySqlConnector;
using Npgsql;

namespace HepDb.Tests.Quotas;

/// <summary>
/// Over quota is enforced by the engines themselves: with the tenant's real client, writes that grow data are refused
/// (including every bypass a tenant would try), reads and space-freeing work, sessions opened before are ended, and
/// freeing space restores writes exactly.
/// </summary>
public sealed class OverQuotaTests(EngineServers engines)
{
    [Fact]
    public async Task MariaDb_over_quota_blocks_growth_cannot_be_undone_and_recovers()
    {
        await using var app = new HepDbApp(engines, new() { ["Tiers:Free:StorageMb"] = "1" });
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, "mariadb");
        var cs = db.ConnectionString;
        Ok(await Clients.MariaDbAsync(cs, "CREATE TABLE big (id INT PRIMARY KEY AUTO_INCREMENT, x TEXT) ENGINE=InnoDB; " +
            "INSERT INTO big (x) SELECT REPEAT('x', 1000) FROM seq_1_to_3000; ANALYZE TABLE big;"));
        await using var before = await MariaDbConnections.OpenAsync(db.Host, db.Port, db.DbUser, db.Password, db.DbName);

        await RunWatcherAsync(app);
        Assert.Equal(DatabaseStatus.OverQuota, await StatusAsync(app, db.Id));
        await Assert.ThrowsAnyAsync<MySqlException>(() => before.ExecAsync("INSERT INTO big (x) VALUES ('opened before')"));

        foreach (var attempt in new[]
        {
            "INSERT INTO big (x) VALUES ('more')",
            "UPDATE big SET x = 'y' WHERE id = 1",
            "CREATE TABLE t2 (id INT)",
            "ALTER TABLE big ADD COLUMN y INT",
            "CREATE VIEW v AS SELECT * FROM big",
            $"GRANT INSERT ON {db.DbName}.* TO CURRENT_USER",
            "CREATE TEMPORARY TABLE tmp (id INT)",
            "CREATE INDEX ix ON big (x(10))",
        })
            Refused(await Clients.MariaDbAsync(cs, attempt), attempt);

        Assert.Equal("3000", (await Clients.MariaDbAsync(cs, "SELECT COUNT(*) FROM big")).Output.Trim());
        Ok(await Clients.MariaDbAsync(cs, "DELETE FROM big WHERE id <= 10"));
        Ok(await Clients.MariaDbAsync(cs, "DROP TABLE big"));

        await RunWatcherAsync(app);
        Assert.Equal(DatabaseStatus.Active, await StatusAsync(app, db.Id));
        Ok(await Clients.MariaDbAsync(cs, "CREATE TABLE t3 (id INT); INSERT INTO t3 VALUES (1); UPDATE t3 SET id = 2; ALTER TABLE t3 ADD COLUMN y INT;"));
        Assert.Equal("GRANT ALL PRIVILEGES", (await Clients.MariaDbAsync(cs, "SHOW GRANTS")).Output.Split('\n')[1][..20]);
    }

    [Fact]
    public async Task Postgres_over_quota_blocks_growth_cannot_be_undone_and_recovers()
    {
        // A new PostgreSQL database already takes about 7.5 MB, so the limit leaves room for it but not for the fill.
        await using var app = new HepDbApp(engines, new() { ["Tiers:Free:StorageMb"] = "12" });
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, "postgres");
        var cs = db.ConnectionString;
        Ok(await Clients.PsqlAsync(cs, "CREATE TABLE big (id serial PRIMARY KEY, x text); " +
            "INSERT INTO big (x) SELECT repeat('x', 1000) FROM generate_series(1, 8000); " +
            "CREATE FUNCTION sneaky() RETURNS void LANGUAGE sql SECURITY DEFINER AS $$ INSERT INTO big (x) VALUES ('definer') $$; " +
            "SELECT lo_from_bytea(424242, 'made before');"));
        await using var before = new NpgsqlConnection(TenantConnectionString(db));
        await before.OpenAsync();

        await RunWatcherAsync(app);
        Assert.Equal(DatabaseStatus.OverQuota, await StatusAsync(app, db.Id));
        await Assert.ThrowsAnyAsync<Exception>(() => new NpgsqlCommand("INSERT INTO big (x) VALUES ('opened before')", before).ExecuteNonQueryAsync());

        foreach (var attempt in new[]
        {
            "INSERT INTO big (x) VALUES ('more')",
            "UPDATE big SET x = 'y' WHERE id = 1",
            "CREATE TABLE t2 (id int)",
            "CREATE SCHEMA s2",
            "ALTER TABLE big ADD COLUMN y int",
            "SET default_transaction_read_only = off; INSERT INTO big (x) VALUES ('more')",
            "BEGIN READ WRITE; INSERT INTO big (x) VALUES ('more'); COMMIT;",
            // A GRANT without grant option only warns in PostgreSQL, so each re-grant is followed by the write it was for.
            $"GRANT INSERT ON big TO {db.DbUser}; INSERT INTO big (x) VALUES ('more')",
            $"GRANT ALL ON ALL TABLES IN SCHEMA public TO {db.DbUser}; INSERT INTO big (x) VALUES ('more')",
            $"GRANT CREATE ON SCHEMA public TO {db.DbUser}; CREATE TABLE public.t9 (id int)",
            $"ALTER DATABASE {db.DbName} OWNER TO {db.DbUser}",
            "SELECT sneaky()",
            "CREATE TEMP TABLE tmp (id int)",
            "COPY big (x) FROM STDIN",
            // Large objects are not tables: each way of creating or growing one.
            "SELECT lo_create(0)",
            "SELECT lo_creat(-1)",
            "SELECT lo_from_bytea(0, repeat('x', 100000)::bytea)",
            "SELECT lo_put(424242, 100000, 'grown'::bytea)",
            "BEGIN; SELECT lowrite(lo_open(424242, 131072), 'x'::bytea); COMMIT;",
            "\\lo_import /etc/hostname",
        })
            Refused(await Clients.PsqlAsync(cs, attempt), attempt);

        Assert.Equal("8000", (await Clients.PsqlAsync(cs, "SELECT count(*) FROM big")).Output.Trim());
        Ok(await Clients.PsqlAsync(cs, "DELETE FROM big WHERE id <= 10"));
        Ok(await Clients.PsqlAsync(cs, "TRUNCATE big"));

        await RunWatcherAsync(app);
        Assert.Equal(DatabaseStatus.Active, await StatusAsync(app, db.Id));
        Ok(await Clients.PsqlAsync(cs, "INSERT INTO big (x) VALUES ('back'); UPDATE big SET x = 'z'; CREATE TABLE t3 (id int); " +
            "ALTER TABLE big ADD COLUMN y int; CREATE SCHEMA s3; SELECT sneaky(); SELECT lo_create(0); SELECT lo_put(424242, 0, 'again'::bytea);"));
        // Ownership came back exactly: the tenant owns its database and its objects again.
        Assert.Equal(db.DbUser, (await Clients.PsqlAsync(cs, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()")).Output.Trim());
        Assert.Equal(db.DbUser, (await Clients.PsqlAsync(cs, "SELECT tableowner FROM pg_tables WHERE tablename = 'big'")).Output.Trim());
    }

    [Fact]
    public async Task Creating_while_over_quota_is_refused_with_STORAGE_QUOTA_EXCEEDED()
    {
        await using var app = new HepDbApp(engines, new() { ["Tiers:Free:StorageMb"] = "1", ["Tiers:Free:Databases"] = "3" });
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, "mariadb");
        Ok(await Clients.MariaDbAsync(db.ConnectionString, "CREATE TABLE big (x TEXT); INSERT INTO big SELECT REPEAT('x', 1000) FROM seq_1_to_3000; ANALYZE TABLE big;"));
        await RunWatcherAsync(app);
        var response = await account.Api.PostAsync("/api/v1/db/databases", Json("""{"name":"second","engine":"mariadb"}"""));
        await ApiAssert.ErrorAsync(response, 403, "STORAGE_QUOTA_EXCEEDED");
        Assert.Equal(1, await app.WithDbAsync(d => d.Databases.CountAsync(x => x.AccountId == account.Id)));
    }

    [Theory]
    [InlineData("mariadb")]
    [InlineData("postgres")]
    public async Task The_connection_limit_is_the_engines_own_and_follows_the_tier(string engine)
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, engine);
        var open = new List<IDisposable>();
        try
        {
            for (var i = 0; i < 10; i++) open.Add(await ConnectAsync(db));
            AssertRefusedByLimit(await Record.ExceptionAsync(() => ConnectAsync(db)), engine);

            await using (var scope = app.Services.CreateAsyncScope())
                await scope.ServiceProvider.GetRequiredService<PackService>().SetTierAsync(account.Id, Tier.Premium.WireName(), HepDb.Audit.Actor.Operator, CancellationToken.None);
            for (var i = 10; i < 25; i++) open.Add(await ConnectAsync(db));
            AssertRefusedByLimit(await Record.ExceptionAsync(() => ConnectAsync(db)), engine);
            Assert.Equal(25, await app.WithDbAsync(d => d.Databases.Where(x => x.Id == db.Id).Select(x => x.ConnectionLimit).SingleAsync()));
        }
        finally
        {
            foreach (var c in open) c.Dispose();
        }
    }

    private static async Task<IDisposable> ConnectAsync(CreatedDatabase db)
    {
        if (db.Engine == "mariadb")
            return await MariaDbConnections.OpenAsync(db.Host, db.Port, db.DbUser, db.Password, db.DbName);
        var conn = new NpgsqlConnection(TenantConnectionString(db));
        await conn.OpenAsync();
        return conn;
    }

    private static void AssertRefusedByLimit(Exception? e, string engine)
    {
        Assert.NotNull(e);
        if (engine == "mariadb") Assert.Equal(MySqlErrorCode.UserLimitReached, Assert.IsType<MySqlException>(e).ErrorCode); // 1226
        else Assert.Equal("53300", Assert.IsType<PostgresException>(e).SqlState);               // too_many_connections
    }

    internal static string TenantConnectionString(CreatedDatabase db) => new NpgsqlConnectionStringBuilder
    {
        Host = db.Host, Port = db.Port, Username = db.DbUser, Password = db.Password, Database = db.DbName, Pooling = false,
    }.ConnectionString;

    internal static async Task<ScanReport> RunWatcherAsync(HepDbApp app)
    {
        var report = await app.Services.GetRequiredService<QuotaWatcher>().RunOnceAsync(CancellationToken.None);
        Assert.NotNull(report);
        Assert.All(report.Servers, s => Assert.True(s.Ok, s.Error));
        Assert.Empty(report.Errors);
        return report;
    }

    internal static Task<DatabaseStatus> StatusAsync(HepDbApp app, string id) =>
        app.WithDbAsync(d => d.Databases.Where(x => x.Id == id).Select(x => x.Status).SingleAsync());

    internal static StringContent Json(string body) => new(body, System.Text.Encoding.UTF8, "application/json");

    private static void Ok(ClientResult r) => Assert.True(r.Ok, r.ToString());

    /// <summary>The attempt failed, and for the right reason: the engine's privilege check (not a typo or a missing table).</summary>
    private static void Refused(ClientResult r, string attempt)
    {
        Assert.False(r.Ok, $"over quota, the tenant could still run: {attempt}");
        Assert.Matches("(?i)permission denied|must be owner|access denied|command denied", r.Error);
    }
}
