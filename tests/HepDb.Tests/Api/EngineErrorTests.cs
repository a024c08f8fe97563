using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using HepDb.Security;
using HepDb.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace HepDb.Tests.Api;

/// <summary>ENGINE_DISABLED, ENGINE_UNAVAILABLE and INTERNAL_ERROR: the engine side of the catalog, nothing left behind.</summary>
public abstract class EngineErrorTests(EngineServers engines)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in.
    public sealed class OnSqlite(EngineServers engines) : EngineErrorTests(engines.On(Metadata.Sqlite));
    public sealed class OnPostgres(EngineServers engines) : EngineErrorTests(engines.On(Metadata.Postgres));

    [Fact]
    public async Task Mongo_is_ENGINE_DISABLED_while_it_is_not_enabled()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync();
        var message = await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, Requests.CreateBody("m", "mongo")), 400, "ENGINE_DISABLED");
        Assert.Contains("mongo", message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_disabled_Postgres_is_ENGINE_DISABLED_while_MariaDB_still_works()
    {
        await using var app = new HepDbApp(engines, new() { ["Engines:Postgres:Enabled"] = "false" });
        var account = await app.CreateAccountAsync();
        await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, Requests.CreateBody("p", "postgres")), 400, "ENGINE_DISABLED");
        var created = await app.CreateDatabaseAsync(account, "mariadb");
        await Tenant.ProveWorksAsync(created.ConnectionString, "mariadb is always on");
    }

    [Theory]
    [InlineData("MariaDb", "mariadb")]
    [InlineData("Postgres", "postgres")]
    public async Task A_closed_engine_port_is_ENGINE_UNAVAILABLE_within_seconds_and_nothing_is_recorded(string section, string engine)
    {
        await using var app = new HepDbApp(engines, new() { [$"Engines:{section}:Port"] = EngineServers.FreePort().ToString() });
        var account = await app.CreateAccountAsync();
        var sw = Stopwatch.StartNew();
        var message = await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, Requests.CreateBody("down", engine)), 503, "ENGINE_UNAVAILABLE");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(8), $"took {sw.Elapsed}");
        Assert.DoesNotContain("Exception", message, StringComparison.Ordinal);
        Assert.Contains("Nothing was created", message, StringComparison.Ordinal);
        Assert.Equal(0, await app.WithDbAsync(db => db.Databases.CountAsync()));
    }

    [Theory]
    [InlineData("MariaDb", "mariadb")]
    [InlineData("Postgres", "postgres")]
    public async Task An_engine_that_accepts_but_never_answers_is_ENGINE_UNAVAILABLE_within_the_connect_timeout(string section, string engine)
    {
        using var blackHole = new TcpListener(IPAddress.Loopback, 0);
        blackHole.Start();
        var held = new List<TcpClient>();
        _ = Task.Run(async () =>
        {
            try { while (true) held.Add(await blackHole.AcceptTcpClientAsync()); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        });
        await using var app = new HepDbApp(engines, new()
        {
            [$"Engines:{section}:Port"] = ((IPEndPoint)blackHole.LocalEndpoint).Port.ToString(),
            [$"Engines:{section}:ConnectTimeout"] = "00:00:02",
        });
        var account = await app.CreateAccountAsync();
        var sw = Stopwatch.StartNew();
        await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, Requests.CreateBody("hangs", engine)), 503, "ENGINE_UNAVAILABLE");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10), $"took {sw.Elapsed}");
        Assert.Equal(0, await app.WithDbAsync(db => db.Databases.CountAsync()));
        blackHole.Stop();
        foreach (var c in held) c.Dispose();
    }

    [Fact]
    public async Task Rotating_while_the_engine_is_down_is_ENGINE_UNAVAILABLE_and_the_old_password_keeps_working()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), $"hepdb-shared-{Guid.NewGuid():N}");
        try
        {
            TestAccount account;
            CreatedDatabase db;
            await using (var up = new HepDbApp(engines, new() { ["HepDb:DataDir"] = dataDir }))
            {
                account = await up.CreateAccountAsync();
                db = await up.CreateDatabaseAsync(account, "mariadb");
            }
            SqliteConnection.ClearAllPools();

            await using var down = new HepDbApp(engines, new() { ["HepDb:DataDir"] = dataDir, ["Engines:MariaDb:Port"] = EngineServers.FreePort().ToString() });
            var api = down.ApiClient(account.Key);
            var before = await down.WithDbAsync(x => x.Databases.AsNoTracking().SingleAsync(d => d.Id == db.Id));
            var message = await Shape.FailureAsync(await api.PostAsync(Paths.Rotate(db.Id), null), 503, "ENGINE_UNAVAILABLE");
            Assert.Contains("password was not changed", message, StringComparison.Ordinal);
            Assert.DoesNotContain("created", message, StringComparison.Ordinal);
            var after = await down.WithDbAsync(x => x.Databases.AsNoTracking().SingleAsync(d => d.Id == db.Id));
            Assert.Equal(before.PasswordSealed, after.PasswordSealed);
            Assert.Null(after.PendingPasswordSealed);
            await Tenant.MustRunAsync(db.ConnectionString, "SELECT 1");

            // Reveal needs only the metadata store, so it still answers with the working password.
            var revealed = await Shape.SuccessAsync(await api.GetAsync(Paths.Database(db.Id)), HttpStatusCode.OK);
            Assert.Equal(db.Password, revealed.GetProperty("password").GetString());

            // Deleting (dashboard only) while the server is down says what happens to the database, not "nothing was
            // created": its final backup cannot be taken, so it is not deleted (nothing changes).
            await using (var scope = down.Services.CreateAsyncScope())
            {
                var deleted = await scope.ServiceProvider.GetRequiredService<Databases.DatabaseService>()
                    .DeleteAsync(account.Id, db.Id, "my-app", Audit.Actor.Operator, CancellationToken.None);
                Assert.Equal("ENGINE_UNAVAILABLE", deleted.Problem?.Code);
                Assert.Contains("final backup could not be taken", deleted.Problem!.Message, StringComparison.Ordinal);
                Assert.Contains("was not deleted", deleted.Problem.Message, StringComparison.Ordinal);
                Assert.DoesNotContain("created", deleted.Problem.Message, StringComparison.Ordinal);
                Assert.Equal(Databases.DatabasePhase.Ready, (await down.WithDbAsync(x => x.Databases.AsNoTracking().SingleAsync(d => d.Id == db.Id))).Phase);
            }

            await using var admin = new EngineObjects.AdminAdapter(engines, Engines.EngineKind.MariaDb);
            await admin.Adapter.DropTenantAsync(db.DbName, db.DbUser, CancellationToken.None);
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { }
        }
    }

    [Fact]
    public async Task Reveal_of_a_database_whose_engine_has_no_server_is_ENGINE_UNAVAILABLE_saying_the_password_cannot_be_shown()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync();
        var id = Hosting.Ulid.New();
        await app.WithDbAsync(async db =>
        {
            db.Databases.Add(new Databases.TenantDatabase
            {
                Id = id, AccountId = account.Id, Name = "orphan", Engine = HepDb.Engines.EngineKind.Mongo, Slot = 1, DbName = $"ug_{account.Slug}_1",
                DbUser = $"dug_{account.Slug}_1", PasswordSealed = "unused", Phase = Databases.DatabasePhase.Ready, CreatedAt = DateTime.UtcNow,
            });
            return await db.SaveChangesAsync();
        });
        var message = await Refused.AssertAsync(app, account, new HttpRequestMessage(HttpMethod.Get, Paths.Database(id)), 503, "ENGINE_UNAVAILABLE");
        Assert.Contains("password cannot be shown", message, StringComparison.Ordinal);
        Assert.DoesNotContain("created", message, StringComparison.Ordinal);
    }

    /// <summary>The admin user can log in but not create databases: the engine refuses the first step.</summary>
    [Fact]
    public async Task MariaDB_refusing_to_create_the_database_is_INTERNAL_ERROR_without_SQL_and_leaves_nothing()
    {
        await using var weak = await WeakMariaDbAdminAsync("GRANT DROP, CREATE USER ON *.* TO {0}; GRANT SELECT ON mysql.* TO {0}");
        await AssertInternalErrorLeavesNothingAsync(weak.Settings, "mariadb");
    }

    /// <summary>The admin user can create the database and the user but cannot grant: the engine refuses the last step,
    /// after two objects exist, and both must be undone.</summary>
    [Fact]
    public async Task MariaDB_refusing_the_grant_after_creating_database_and_user_is_INTERNAL_ERROR_and_both_are_undone()
    {
        await using var weak = await WeakMariaDbAdminAsync("GRANT CREATE, DROP, CREATE USER ON *.* TO {0}; GRANT SELECT ON mysql.* TO {0}");
        await AssertInternalErrorLeavesNothingAsync(weak.Settings, "mariadb");
    }

    /// <summary>The admin role may create roles but not databases: the role exists when the engine refuses, and is undone.</summary>
    [Fact]
    public async Task Postgres_refusing_to_create_the_database_after_the_role_is_INTERNAL_ERROR_and_the_role_is_undone()
    {
        await using var weak = await WeakPostgresAdminAsync();
        await AssertInternalErrorLeavesNothingAsync(weak.Settings, "postgres");
    }

    private async Task AssertInternalErrorLeavesNothingAsync(Dictionary<string, string?> settings, string engine)
    {
        await using var app = new HepDbApp(engines, settings);
        var account = await app.CreateAccountAsync();
        var message = await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, Requests.CreateBody("refused", engine)), 500, "INTERNAL_ERROR");
        foreach (var sql in new[] { "CREATE ", "GRANT ", "DATABASE ", "ROLE ", "USER ", "`", "\"" })
            Assert.DoesNotContain(sql, message, StringComparison.Ordinal);
        foreach (var leak in new[] { "denied", "permission", "exception", "   at ", "error 1", "4250", account.Slug, "hepdb_weak" })
            Assert.DoesNotContain(leak, message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, await app.WithDbAsync(db => db.Databases.CountAsync()));
        Assert.Empty(await EngineObjects.ForSlugAsync(engines, account.Slug));
    }

    private sealed class WeakAdmin(Dictionary<string, string?> settings, Func<Task> drop) : IAsyncDisposable
    {
        public Dictionary<string, string?> Settings { get; } = settings;
        public async ValueTask DisposeAsync() => await drop();
    }

    private async Task<WeakAdmin> WeakMariaDbAdminAsync(string grants)
    {
        var user = $"hepdb_weak_{Secrets.Generate(8).ToLowerInvariant()}";
        var password = Secrets.Generate(24);
        var account = $"'{user}'@'%'";
        await RunAsMariaDbRootAsync($"CREATE USER {account} IDENTIFIED BY '{password}'");
        foreach (var grant in string.Format(System.Globalization.CultureInfo.InvariantCulture, grants, account).Split(';'))
            await RunAsMariaDbRootAsync(grant);
        return new WeakAdmin(new() { ["Engines:MariaDb:AdminUser"] = user, ["Engines:MariaDb:AdminPassword"] = password },
            () => RunAsMariaDbRootAsync($"DROP USER IF EXISTS {account}"));
    }

    private async Task RunAsMariaDbRootAsync(string sql)
    {
        await using var c = await MariaDbConnections.OpenAdminAsync(engines.Engines.MariaDb);
        await c.ExecAsync(sql);
    }

    private async Task<WeakAdmin> WeakPostgresAdminAsync()
    {
        var role = $"hepdb_weak_{Secrets.Generate(8).ToLowerInvariant()}";
        var password = Secrets.Generate(24);
        await RunAsPostgresSuperuserAsync($"CREATE ROLE {role} LOGIN CREATEROLE NOCREATEDB PASSWORD '{password}'; GRANT CONNECT ON DATABASE postgres TO {role}");
        return new WeakAdmin(new() { ["Engines:Postgres:AdminUser"] = role, ["Engines:Postgres:AdminPassword"] = password },
            () => RunAsPostgresSuperuserAsync($"REVOKE CONNECT ON DATABASE postgres FROM {role}; DROP ROLE IF EXISTS {role}"));
    }

    private async Task RunAsPostgresSuperuserAsync(string sql)
    {
        var o = engines.Engines.Postgres;
        await using var conn = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
        {
            Host = o.Host, Port = o.Port, Username = "postgres", Password = o.AdminPassword, Database = "postgres", Pooling = false,
        }.ConnectionString);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        await cmd.ExecuteNonQueryAsync();
    }
}
