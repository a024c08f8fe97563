using HepDb.Security;
using HepDb.Tests.Infrastructure;

namespace HepDb.Tests.Api;

/// <summary>Two tenants on the same servers, with the real clients: each reaches its own database and nothing else.</summary>
public abstract class IsolationTests(EngineServers engines, SharedApp shared)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in.
    public sealed class OnSqlite(EngineServers engines, SharedApp shared) : IsolationTests(engines.On(Metadata.Sqlite), shared), IClassFixture<SharedApp>;
    public sealed class OnPostgres(EngineServers engines, SharedApp shared) : IsolationTests(engines.On(Metadata.Postgres), shared), IClassFixture<SharedApp>;
    // Each test works as accounts of its own and looks only at them, so a class shares one app (SharedApp).

    [Fact]
    public async Task MariaDB_tenants_cannot_reach_each_other_or_the_server()
    {
        var app = shared.For(engines);
        var (a, b) = await TwoTenantsAsync(app, "mariadb");

        // Not B's database, by connection or by qualified name.
        Assert.Contains("Access denied", await Tenant.MustFailAsync(Clients.WithDatabase(a.ConnectionString, b.DbName), "SELECT 1"));
        Assert.Contains("denied", await Tenant.MustFailAsync(a.ConnectionString, $"SELECT * FROM `{b.DbName}`.secret"));
        await Tenant.MustFailAsync(a.ConnectionString, $"INSERT INTO `{b.DbName}`.secret VALUES (2, 'from A')");
        await Tenant.MustFailAsync(a.ConnectionString, $"USE `{b.DbName}`");
        Assert.Equal(["information_schema", a.DbName], Lines(await Tenant.MustRunAsync(a.ConnectionString, "SHOW DATABASES")).Order(StringComparer.Ordinal));
        Assert.Equal("", await Tenant.MustRunAsync(a.ConnectionString,
            $"SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.TABLES WHERE table_schema NOT IN ('{a.DbName}', 'information_schema', 'performance_schema')"));
        // performance_schema only exposes MariaDB's status/variable tables to every user; nothing of another tenant.
        Assert.Equal("", await Tenant.MustRunAsync(a.ConnectionString,
            $"SELECT DISTINCT table_schema FROM information_schema.COLUMNS WHERE table_schema NOT IN ('{a.DbName}', 'information_schema', 'performance_schema')"));

        // No server-level privileges.
        await Tenant.MustFailAsync(a.ConnectionString, "CREATE USER 'intruder'@'%' IDENTIFIED BY 'x'");
        await Tenant.MustFailAsync(a.ConnectionString, "SELECT User, Password FROM mysql.user");
        await Tenant.MustFailAsync(a.ConnectionString, "SELECT * FROM mysql.global_priv");
        await Tenant.MustFailAsync(a.ConnectionString, $"CREATE DATABASE `{a.DbName}x`");
        await Tenant.MustFailAsync(a.ConnectionString, $"CREATE DATABASE `um_{a.DbName[3..^2]}_9`");
        await Tenant.MustFailAsync(a.ConnectionString, $"GRANT SELECT ON `{a.DbName}`.* TO '{b.DbUser}'@'%'");
        Assert.Equal("NULL", await Tenant.MustRunAsync(a.ConnectionString, "SELECT LOAD_FILE('/etc/passwd')"));
        await Tenant.MustFailAsync(a.ConnectionString, $"SELECT 'x' INTO OUTFILE '/tmp/hepdb-{Secrets.Generate(8)}'");
        await Tenant.MustFailAsync(a.ConnectionString, "CREATE TABLE f (x TEXT); LOAD DATA INFILE '/etc/passwd' INTO TABLE f");
        await Tenant.MustFailAsync(a.ConnectionString, "SHOW PROCESSLIST; KILL 1");
        await Tenant.MustFailAsync(a.ConnectionString, "SET GLOBAL max_connections = 1");

        // The only global grant is USAGE; the database grant names exactly A's database, with '_' escaped.
        // (--batch output escapes backslashes, so `um\_x` prints as `um\\_x`.)
        var grants = Lines((await Tenant.MustRunAsync(a.ConnectionString, "SHOW GRANTS")).Replace("\\\\", "\\", StringComparison.Ordinal));
        Assert.Equal(2, grants.Length);
        Assert.Contains(grants, g => g.StartsWith($"GRANT USAGE ON *.* TO `{a.DbUser}`@`%`", StringComparison.Ordinal));
        Assert.Contains(grants, g => g.Contains($"ON `{a.DbName.Replace("_", "\\_", StringComparison.Ordinal)}`.* TO `{a.DbUser}`@`%`", StringComparison.Ordinal));
        Assert.DoesNotContain(grants, g => g.Contains("WITH GRANT OPTION", StringComparison.Ordinal));

        // B's data is intact and B still works.
        Assert.Equal("only B", await Tenant.MustRunAsync(b.ConnectionString, "SELECT body FROM secret"));
    }

    /// <summary>
    /// '_' is a wildcard in MariaDB database grants. A database whose name matches A's name with an underscore replaced
    /// (created by an admin, not by HepDb) would be reachable through an unescaped grant; the test first proves that
    /// with a probe user holding exactly such a grant, then proves A cannot reach it.
    /// </summary>
    [Fact]
    public async Task MariaDB_grant_patterns_escape_the_underscore_wildcard()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var a = await app.CreateDatabaseAsync(account, "mariadb");
        var lookalikes = new[] { a.DbName.Replace('_', 'z'), "umz" + a.DbName[3..], a.DbName[..^2] + "z1" };
        var probe = $"hepdb_probe_{Secrets.Generate(6).ToLowerInvariant()}";
        var probePassword = Secrets.Generate(24);
        try
        {
            foreach (var name in lookalikes)
                await RootAsync($"CREATE DATABASE `{name}`", $"CREATE TABLE `{name}`.secret (body VARCHAR(20))", $"INSERT INTO `{name}`.secret VALUES ('not for A')");
            await RootAsync($"CREATE USER '{probe}'@'%' IDENTIFIED BY '{probePassword}'", $"GRANT SELECT ON `{a.DbName}`.* TO '{probe}'@'%'");
            var probeCs = $"mysql://{probe}:{probePassword}@127.0.0.1:{engines.Engines.MariaDb.Port}/";
            foreach (var name in lookalikes)
                Assert.Equal("not for A", await Tenant.MustRunAsync(probeCs, $"SELECT body FROM `{name}`.secret")); // the trap is real

            foreach (var name in lookalikes)
            {
                await Tenant.MustFailAsync(a.ConnectionString, $"SELECT body FROM `{name}`.secret");
                await Tenant.MustFailAsync(a.ConnectionString, $"DROP DATABASE `{name}`");
                await Tenant.MustFailAsync(Clients.WithDatabase(a.ConnectionString, name), "SELECT 1");
            }
            Assert.Equal(["information_schema", a.DbName], Lines(await Tenant.MustRunAsync(a.ConnectionString, "SHOW DATABASES")).Order(StringComparer.Ordinal));
        }
        finally
        {
            foreach (var name in lookalikes) await RootAsync($"DROP DATABASE IF EXISTS `{name}`");
            await RootAsync($"DROP USER IF EXISTS '{probe}'@'%'");
        }
    }

    [Fact]
    public async Task Postgres_tenants_cannot_reach_each_other_or_the_server()
    {
        var app = shared.For(engines);
        var (a, b) = await TwoTenantsAsync(app, "postgres");

        foreach (var other in new[] { b.DbName, "postgres", "template1" })
        {
            var refused = await Tenant.MustFailAsync(Clients.WithDatabase(a.ConnectionString, other), "SELECT 1");
            Assert.Contains("permission denied for database", refused);
        }
        await Tenant.MustFailAsync(Clients.WithDatabase(a.ConnectionString, "template0"), "SELECT 1");

        // No server-level privileges and no memberships.
        Assert.Equal("f|f|f|f|f", await Tenant.MustRunAsync(a.ConnectionString,
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = current_user"));
        Assert.Equal("0", await Tenant.MustRunAsync(a.ConnectionString, "SELECT count(*) FROM pg_auth_members WHERE member = current_user::regrole"));
        await Tenant.MustFailAsync(a.ConnectionString, "CREATE DATABASE intruder");
        await Tenant.MustFailAsync(a.ConnectionString, "CREATE ROLE intruder LOGIN PASSWORD 'x'");
        await Tenant.MustFailAsync(a.ConnectionString, $"SET ROLE {b.DbUser}");
        await Tenant.MustFailAsync(a.ConnectionString, $"ALTER ROLE {b.DbUser} PASSWORD 'taken'");
        await Tenant.MustFailAsync(a.ConnectionString, "SELECT pg_read_file('/etc/passwd')");
        await Tenant.MustFailAsync(a.ConnectionString, "SELECT pg_ls_dir('.')");
        await Tenant.MustFailAsync(a.ConnectionString, "COPY (SELECT 1) TO PROGRAM 'true'");
        await Tenant.MustFailAsync(a.ConnectionString, "CREATE TABLE f (x text); COPY f FROM '/etc/passwd'");
        await Tenant.MustFailAsync(a.ConnectionString, $"COPY (SELECT 1) TO '/tmp/hepdb-{Secrets.Generate(8)}'");
        await Tenant.MustFailAsync(a.ConnectionString, "ALTER SYSTEM SET max_connections = 1");
        await Tenant.MustFailAsync(a.ConnectionString, "CREATE EXTENSION dblink");
        await Tenant.MustFailAsync(a.ConnectionString, "SELECT passwd FROM pg_shadow");
        await Tenant.MustFailAsync(a.ConnectionString, "SELECT rolpassword FROM pg_authid");
        Assert.Equal("only B", await Tenant.MustRunAsync(b.ConnectionString, "SELECT body FROM secret"));
    }

    private static async Task<(CreatedDatabase A, CreatedDatabase B)> TwoTenantsAsync(HepDbApp app, string engine)
    {
        var a = await app.CreateDatabaseAsync(await app.CreateAccountAsync(), engine, "tenant-a");
        var b = await app.CreateDatabaseAsync(await app.CreateAccountAsync(), engine, "tenant-b");
        await Tenant.MustRunAsync(b.ConnectionString, "CREATE TABLE secret (id INT PRIMARY KEY, body VARCHAR(20)); INSERT INTO secret VALUES (1, 'only B')");
        await Tenant.ProveWorksAsync(a.ConnectionString, "A works");
        return (a, b);
    }

    private async Task RootAsync(params string[] statements)
    {
        await using var c = await MariaDbConnections.OpenAdminAsync(engines.Engines.MariaDb);
        foreach (var sql in statements) await c.ExecAsync(sql);
    }

    private static string[] Lines(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
