using HepDb.Hosting;
using HepDb.Engines;
using HepDb.Engines.MariaDb;
using HepDb.Engines.Postgres;
using HepDb.Security;
using HepDb.Tests.Infrastructure;

namespace HepDb.Tests.Foundation;

/// <summary>Each adapter against its real server: create a tenant, run real statements as that tenant, drop it.</summary>
public sealed class EngineAdapterTests(EngineServers engines)
{
    public static TheoryData<string> Kinds => new() { "mariadb", "postgres" };

    private IEngineAdapter Adapter(EngineKind kind) => kind == EngineKind.MariaDb
        ? new MariaDbAdapter(engines.Engines.MariaDb)
        : new PostgresAdapter(engines.Engines.Postgres);

    [Theory, MemberData(nameof(Kinds))]
    public async Task Creates_a_tenant_that_can_work_in_its_database_and_drops_it(string engine)
    {
        var kind = EngineKinds.Parse(engine);
        var adapter = Adapter(kind);
        var slug = Secrets.Generate(10).ToLowerInvariant();
        var spec = new TenantSpec(TenantNames.DatabaseName(kind, slug, 1), TenantNames.UserName(kind, slug, 1), Secrets.NewDatabasePassword(), 5);

        var probe = await adapter.ProbeAsync(CancellationToken.None);
        Assert.True(probe.Up, probe.Error);
        Assert.False(string.IsNullOrEmpty(probe.Version));

        await adapter.CreateTenantAsync(spec, CancellationToken.None);
        await adapter.CreateTenantAsync(spec, CancellationToken.None); // idempotent
        var cs = adapter.ConnectionString(spec.DbName, spec.User, spec.Password);
        var result = await Clients.SqlAsync(cs, "CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(50)); INSERT INTO notes VALUES (1, 'héllo ✓'); SELECT body FROM notes;");
        Assert.True(result.Ok, result.ToString());
        Assert.Contains("héllo ✓", result.Output);
        Assert.Equal("1", await adapter.ScalarAsTenantAsync(spec.DbName, spec.User, spec.Password, "SELECT COUNT(*) FROM notes", CancellationToken.None));

        var listed = await adapter.ListTenantObjectsAsync(CancellationToken.None);
        Assert.Contains(spec.DbName, listed.Databases);
        Assert.Contains(spec.User, listed.Users);

        await adapter.DropTenantAsync(spec.DbName, spec.User, CancellationToken.None);
        await adapter.DropTenantAsync(spec.DbName, spec.User, CancellationToken.None); // idempotent
        listed = await adapter.ListTenantObjectsAsync(CancellationToken.None);
        Assert.DoesNotContain(spec.DbName, listed.Databases);
        Assert.DoesNotContain(spec.User, listed.Users);
        Assert.False((await Clients.SqlAsync(cs, "SELECT 1")).Ok);
    }

    [Fact]
    public async Task MariaDb_errors_carry_the_server_error_number_and_a_refused_admin_login_changes_nothing()
    {
        var o = engines.Engines.MariaDb;
        await using var adapter = new MariaDbAdapter(o);
        var denied = await Assert.ThrowsAsync<EngineCommandException>(() => adapter.ScalarAsTenantAsync("mysql", "root", "wrong-password", "SELECT 1", Ct));
        Assert.Equal("1045", denied.Code);
        Assert.Contains("Access denied", denied.Message);

        var error = await Assert.ThrowsAsync<EngineCommandException>(() => adapter.ScalarAsTenantAsync("mysql", "root", o.AdminPassword!, "SELECT * FROM no_such_db.no_such_table", Ct));
        Assert.Equal("1146", error.Code);
        Assert.Equal("3", await adapter.ScalarAsTenantAsync("mysql", "root", o.AdminPassword!, "SELECT 1 + 2", Ct));
        Assert.Null(await adapter.ScalarAsTenantAsync("mysql", "root", o.AdminPassword!, "SELECT NULL", Ct));
        Assert.Equal("✓ ünïcode", await adapter.ScalarAsTenantAsync("mysql", "root", o.AdminPassword!, "SELECT '✓ ünïcode'", Ct));

        // A wrong admin password is a deployment problem: unavailable, and before anything was sent.
        await using var wrongAdmin = new MariaDbAdapter(new EngineServerOptions { Host = o.Host, Port = o.Port, AdminPassword = "wrong-password" });
        var refused = await Assert.ThrowsAsync<EngineUnavailableException>(() => wrongAdmin.SetConnectionLimitAsync(new TenantSpec("um_x_1", "dum_x_1", "p", 5), Ct));
        Assert.True(refused.BeforeAnyChange);
        Assert.Contains("admin login was refused", refused.Message);
        Assert.False((await wrongAdmin.ProbeAsync(Ct)).Up);
    }

    /// <summary>The caller's token reaches the server: a cancelled command stops there too (MySqlConnector sends KILL
    /// QUERY), instead of running on while the caller has gone.</summary>
    [Fact]
    public async Task MariaDb_cancellation_stops_a_running_command_on_the_server()
    {
        var o = engines.Engines.MariaDb;
        await using var adapter = new MariaDbAdapter(o);
        var marker = $"hepdb_cancel_{Guid.NewGuid():N}";
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            adapter.ScalarAsTenantAsync("mysql", "root", o.AdminPassword!, $"SELECT SLEEP(30) AS {marker}", cts.Token));
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"cancellation took {sw.Elapsed}");
        await using var admin = await MariaDbConnections.OpenAdminAsync(o);
        Assert.Equal("0", await admin.ScalarAsync($"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%{marker}%' AND INFO NOT LIKE '%PROCESSLIST%'"));
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_closed_port_is_reported_unavailable_quickly_on_both_engines()
    {
        foreach (var kind in new[] { EngineKind.MariaDb, EngineKind.Postgres })
        {
            var closed = new HepDb.Hosting.EngineServerOptions { Port = EngineServers.FreePort(), AdminUser = "x", AdminPassword = "y", ConnectTimeout = TimeSpan.FromSeconds(2) };
            IEngineAdapter adapter = kind == EngineKind.MariaDb ? new MariaDbAdapter(closed) : new PostgresAdapter(closed);
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<EngineUnavailableException>(() =>
                adapter.CreateTenantAsync(new TenantSpec("um_x_1", "dum_x_1", "p", 1), CancellationToken.None));
            Assert.True(e.BeforeAnyChange);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"{kind} took {sw.Elapsed}");
            Assert.False((await adapter.ProbeAsync(CancellationToken.None)).Up);
        }
    }
}
