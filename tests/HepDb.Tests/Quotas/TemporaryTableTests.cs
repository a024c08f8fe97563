using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;

namespace HepDb.Tests.Quotas;

/// <summary>MariaDB temporary tables are invisible to the quota watcher, so the local server bounds them itself: InnoDB
/// only (Aria, MyISAM and MEMORY temporary tables are refused) in a shared temporary tablespace with a cap. Here the cap
/// is 64 MiB, below a Free account's 100 MB: a Free tenant cannot hold more than its quota in temporary tables, and
/// the space comes back for everyone when its session ends. A private server, so filling the cap disturbs no other
/// test.</summary>
public sealed class TemporaryTableTests(EngineServers engines)
{
    [Fact]
    public async Task A_Free_tenant_cannot_hold_more_than_the_capped_temporary_space_and_only_InnoDB_temporary_tables()
    {
        await using var server = await PrivateMariaDb.StartAsync("tmpspace", o => o.LocalMariaDbTemporarySpaceMb = 64);
        var (root, options) = (server.Root, server.Options);
        {
            await using var app = new HepDbApp(engines, new()
            {
                ["Engines:MariaDb:Port"] = options.MariaDb.Port.ToString(),
                ["Engines:MariaDb:AdminPassword"] = options.MariaDb.AdminPassword,
                ["Engines:MariaDb:CaCertificateFile"] = options.MariaDb.CaCertificateFile,
            });
            var tenant = await app.CreateDatabaseAsync(await app.CreateAccountAsync(), "mariadb");
            var neighbour = await app.CreateDatabaseAsync(await app.CreateAccountAsync(), "mariadb");

            // 300,000 rows of 255 bytes is over 70 MiB; in one session (the table lives as long as it does).
            var fill = await Clients.MariaDbAsync(tenant.ConnectionString,
                "CREATE TEMPORARY TABLE big (a CHAR(255)) ENGINE=InnoDB; INSERT INTO big SELECT REPEAT('x', 255) FROM seq_1_to_300000;");
            Assert.False(fill.Ok, fill.ToString());
            Assert.Contains("is full", fill.Error, StringComparison.Ordinal);
            var ibtmp1 = new FileInfo(Path.Combine(root, "engines", "mariadb", "data", "ibtmp1")).Length;
            Assert.InRange(ibtmp1, 1, 64L << 20);

            foreach (var engine in new[] { "Aria", "MyISAM", "MEMORY" })
            {
                var other = await Clients.MariaDbAsync(tenant.ConnectionString, $"CREATE TEMPORARY TABLE t (a INT) ENGINE={engine}");
                Assert.False(other.Ok, $"{engine}: {other}");
            }
            // A smaller temporary table works, for this tenant and its neighbour, once the big one's session is gone.
            Assert.Equal("1000", await Tenant.MustRunAsync(neighbour.ConnectionString,
                "CREATE TEMPORARY TABLE small (a CHAR(255)); INSERT INTO small SELECT REPEAT('y', 255) FROM seq_1_to_1000; SELECT COUNT(*) FROM small;"));
            Assert.Equal("1", await Tenant.MustRunAsync(tenant.ConnectionString, "CREATE TEMPORARY TABLE t (a INT); INSERT INTO t VALUES (1); SELECT COUNT(*) FROM t;"));
        }
    }
}
