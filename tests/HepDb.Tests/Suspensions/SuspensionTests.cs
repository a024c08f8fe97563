using HepDb.Accounts;
using HepDb.Api;
using HepDb.ApiKeys;
using HepDb.Audit;
using HepDb.Databases;
using HepDb.Quotas;
using HepDb.Tests.Infrastructure;
using HepDb.Tests.Quotas;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MySqlConnector;
using Npgsql;

namespace HepDb.Tests.Suspensions;

/// <summary>The suspension cascade with real clients: sessions are cut, logins and keys refused, and lifting restores
/// exactly what was there before; a crash half-way is repaired on the next start.</summary>
public sealed class SuspensionTests(EngineServers engines)
{
    [Fact]
    public async Task Suspension_cuts_everything_and_lifting_restores_exactly_the_earlier_state()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync(Tier.Premium);
        var ownerDisabledKey = await app.MintKeyAsync(account.Id, "old");
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var keys = scope.ServiceProvider.GetRequiredService<ApiKeyService>();
            var old = (await keys.ListAsync(account.Id, CancellationToken.None)).Single(k => k.Label == "old");
            Assert.True((await keys.DisableAsync(account.Id, old.Id, Actor.Operator, CancellationToken.None)).Ok);
        }
        var maria = await app.CreateDatabaseAsync(account, "mariadb");
        var pg = await app.CreateDatabaseAsync(account, "postgres");
        await using var mariaSession = await MariaDbConnections.OpenAsync(maria.Host, maria.Port, maria.DbUser, maria.Password, maria.DbName);
        await using var pgSession = new NpgsqlConnection(OverQuotaTests.TenantConnectionString(pg));
        await pgSession.OpenAsync();

        await using (var scope = app.Services.CreateAsyncScope())
            Assert.Empty((await scope.ServiceProvider.GetRequiredService<Suspension>().SuspendAsync(account.Id, "abuse report #12", Actor.Operator, CancellationToken.None)).Value!);

        await Assert.ThrowsAnyAsync<MySqlException>(() => mariaSession.ScalarAsync("SELECT 1"));
        await Assert.ThrowsAnyAsync<Exception>(() => new NpgsqlCommand("SELECT 1", pgSession).ExecuteScalarAsync());
        Assert.False((await Clients.SqlAsync(maria.ConnectionString, "SELECT 1")).Ok);
        Assert.False((await Clients.SqlAsync(pg.ConnectionString, "SELECT 1")).Ok);
        await ApiAssert.ErrorAsync(await account.Api.GetAsync("/api/v1/db/databases"), 401, "KEY_DISABLED");
        await ApiAssert.ErrorAsync(await app.ApiClient(ownerDisabledKey).GetAsync("/api/v1/db/databases"), 401, "KEY_DISABLED");
        Assert.All(await Statuses(app, account.Id), s => Assert.Equal(DatabaseStatus.Disabled, s));

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var suspension = scope.ServiceProvider.GetRequiredService<Suspension>();
            Assert.Empty((await suspension.SuspendAsync(account.Id, "again", Actor.Operator, CancellationToken.None)).Value!); // idempotent
            Assert.Empty((await suspension.LiftAsync(account.Id, "appeal accepted", Actor.Operator, CancellationToken.None)).Value!);
        }

        await ApiAssert.OkAsync(await account.Api.GetAsync("/api/v1/db/databases"));
        await ApiAssert.ErrorAsync(await app.ApiClient(ownerDisabledKey).GetAsync("/api/v1/db/databases"), 401, "KEY_DISABLED");
        Assert.True((await Clients.SqlAsync(maria.ConnectionString, "CREATE TABLE back (id INT); INSERT INTO back VALUES (1);")).Ok);
        Assert.True((await Clients.SqlAsync(pg.ConnectionString, "CREATE TABLE back (id int); INSERT INTO back VALUES (1);")).Ok);
        Assert.All(await Statuses(app, account.Id), s => Assert.Equal(DatabaseStatus.Active, s));
        var audit = await app.WithDbAsync(d => d.AuditLog.Where(a => a.AccountId == account.Id).Select(a => a.Action).ToListAsync());
        Assert.Contains("account.suspended", audit);
        Assert.Contains("account.unsuspended", audit);
    }

    [Fact]
    public async Task Lifting_needs_a_reason_that_the_audit_entry_keeps_and_a_blank_one_changes_nothing()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var suspension = scope.ServiceProvider.GetRequiredService<Suspension>();
            Assert.Empty((await suspension.SuspendAsync(account.Id, "abuse", Actor.Operator, CancellationToken.None)).Value!);
            var blank = await suspension.LiftAsync(account.Id, "  ", Actor.Operator, CancellationToken.None);
            Assert.Equal(ApiErrors.LiftNeedsReason, blank.Problem);
            Assert.Equal("REASON_REQUIRED", blank.Problem!.Code);
        }
        await ApiAssert.ErrorAsync(await account.Api.GetAsync("/api/v1/db/databases"), 401, "KEY_DISABLED"); // still suspended
        Assert.NotNull(await app.WithDbAsync(d => d.Accounts.Where(a => a.Id == account.Id).Select(a => a.SuspendedAt).SingleAsync()));

        await using (var scope = app.Services.CreateAsyncScope())
            Assert.Empty((await scope.ServiceProvider.GetRequiredService<Suspension>().LiftAsync(account.Id, " appeal #7 accepted ", Actor.Operator, CancellationToken.None)).Value!);
        await ApiAssert.OkAsync(await account.Api.GetAsync("/api/v1/db/databases"));
        var lifted = await app.WithDbAsync(d => d.AuditLog.SingleAsync(a => a.AccountId == account.Id && a.Action == "account.unsuspended"));
        Assert.Equal("appeal #7 accepted", lifted.Detail);
    }

    [Fact]
    public async Task Sessions_of_the_real_clients_open_at_suspension_are_ended_and_the_same_password_works_after_lifting()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync();
        await using (var scope = app.Services.CreateAsyncScope())
            await scope.ServiceProvider.GetRequiredService<PackService>().GrantAsync(account.Id, "db-pack", "operator", null, Actor.Operator, CancellationToken.None);
        var maria = await app.CreateDatabaseAsync(account, "mariadb");
        var pg = await app.CreateDatabaseAsync(account, "postgres");

        // mariadb and psql each connect and sit in a 60 s query, as a tenant's open session would.
        var started = DateTime.UtcNow;
        var mariaClient = Clients.MariaDbAsync(maria.ConnectionString, "SELECT SLEEP(60)");
        var psqlClient = Clients.PsqlAsync(pg.ConnectionString, "SELECT pg_sleep(60)");
        await WaitForSessionAsync(() => CountMariaDbSessions(maria.DbUser), "mariadb");
        await WaitForSessionAsync(() => CountPostgresSessions(pg.DbUser), "psql");

        await using (var scope = app.Services.CreateAsyncScope())
            Assert.Empty((await scope.ServiceProvider.GetRequiredService<Suspension>().SuspendAsync(account.Id, "abuse", Actor.Operator, CancellationToken.None)).Value!);

        var mariaEnded = await mariaClient;
        var psqlEnded = await psqlClient;
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(45), "the sessions ran on: they were not ended");
        // SELECT SLEEP returns 1 when its connection is killed mid-sleep; either way the client gets no normal answer.
        Assert.True(!mariaEnded.Ok || mariaEnded.Output.Trim() == "1", mariaEnded.ToString());
        Assert.False(psqlEnded.Ok, psqlEnded.ToString());
        Assert.Contains("terminat", psqlEnded.Error, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, await CountMariaDbSessions(maria.DbUser));
        Assert.Equal(0, await CountPostgresSessions(pg.DbUser));
        Assert.False((await Clients.MariaDbAsync(maria.ConnectionString, "SELECT 1")).Ok);
        Assert.False((await Clients.PsqlAsync(pg.ConnectionString, "SELECT 1")).Ok);

        await using (var scope = app.Services.CreateAsyncScope())
            Assert.Empty((await scope.ServiceProvider.GetRequiredService<Suspension>().LiftAsync(account.Id, "resolved", Actor.Operator, CancellationToken.None)).Value!);
        var mariaBack = await Clients.MariaDbAsync(maria.ConnectionString, "SELECT 1");
        Assert.True(mariaBack.Ok, mariaBack.ToString());
        var psqlBack = await Clients.PsqlAsync(pg.ConnectionString, "SELECT 1");
        Assert.True(psqlBack.Ok, psqlBack.ToString());
    }

    private async Task<int> CountMariaDbSessions(string user)
    {
        await using var admin = await MariaDbConnections.OpenAdminAsync(engines.Engines.MariaDb);
        return int.Parse((await admin.ScalarAsync($"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{user}'"))!);
    }

    private async Task<int> CountPostgresSessions(string user)
    {
        await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = engines.Engines.Postgres.Port, Username = "postgres", Password = engines.Engines.Postgres.AdminPassword,
            Database = "postgres", Pooling = false,
        }.ConnectionString);
        await admin.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE usename = @u", admin);
        cmd.Parameters.AddWithValue("u", user);
        return Convert.ToInt32(await cmd.ExecuteScalarAsync());
    }

    private static async Task WaitForSessionAsync(Func<Task<int>> count, string client)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(20); await count() == 0; await Task.Delay(100))
            Assert.True(DateTime.UtcNow < deadline, $"{client} did not connect within 20 s");
    }

    [Fact]
    public async Task Lifting_returns_an_over_quota_account_to_over_quota_not_active()
    {
        await using var app = new HepDbApp(engines, new() { ["Tiers:Free:StorageMb"] = "1" });
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, "mariadb");
        Assert.True((await Clients.MariaDbAsync(db.ConnectionString, "CREATE TABLE big (x TEXT); INSERT INTO big SELECT REPEAT('x', 1000) FROM seq_1_to_3000; ANALYZE TABLE big;")).Ok);
        await OverQuotaTests.RunWatcherAsync(app);
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var suspension = scope.ServiceProvider.GetRequiredService<Suspension>();
            await suspension.SuspendAsync(account.Id, "billing", Actor.Operator, CancellationToken.None);
            Assert.Equal(DatabaseStatus.Disabled, await OverQuotaTests.StatusAsync(app, db.Id));
            await suspension.LiftAsync(account.Id, "paid", Actor.Operator, CancellationToken.None);
        }
        Assert.Equal(DatabaseStatus.OverQuota, await OverQuotaTests.StatusAsync(app, db.Id));
        Assert.True((await Clients.MariaDbAsync(db.ConnectionString, "SELECT COUNT(*) FROM big")).Ok);
        Assert.False((await Clients.MariaDbAsync(db.ConnectionString, "INSERT INTO big VALUES ('x')")).Ok);
    }

    [Fact]
    public async Task A_crash_half_way_through_the_cascade_is_repaired_on_the_next_start()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), $"hepdb-crash-{Guid.NewGuid():N}");
        try
        {
            CreatedDatabase maria, pg;
            string accountId;
            await using (var app = new HepDbApp(engines, dataDir: dataDir))
            {
                var account = await app.CreateAccountAsync(Tier.Premium);
                accountId = account.Id;
                maria = await app.CreateDatabaseAsync(account, "mariadb");
                pg = await app.CreateDatabaseAsync(account, "postgres");
                await app.WatcherStarted; // its pass at start must not finish the cut cascade before the test looks
                AccountEnforcer.AfterEachDatabase = d => { if (d.AccountId == accountId) throw new InvalidOperationException("injected crash"); };
                try
                {
                    await using var scope = app.Services.CreateAsyncScope();
                    await Assert.ThrowsAsync<InvalidOperationException>(() =>
                        scope.ServiceProvider.GetRequiredService<Suspension>().SuspendAsync(accountId, "crash test", Actor.Operator, CancellationToken.None));
                }
                finally
                {
                    AccountEnforcer.AfterEachDatabase = null;
                }
                // Half-way: the first database is locked, the second is not, the keys are already disabled.
                Assert.Equal([DatabaseStatus.Disabled, DatabaseStatus.Active], await Statuses(app, accountId));
                Assert.True((await Clients.SqlAsync(pg.ConnectionString, "SELECT 1")).Ok);
                await ApiAssert.ErrorAsync(await account.Api.GetAsync("/api/v1/db/databases"), 401, "KEY_DISABLED");
            }

            // The next start: its first quota-watcher pass converges to the intended state.
            await using (var restarted = new HepDbApp(engines, dataDir: dataDir))
            {
                _ = restarted.Services;
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while ((await Statuses(restarted, accountId)).Any(s => s != DatabaseStatus.Disabled) && DateTime.UtcNow < deadline) await Task.Delay(200);
                Assert.All(await Statuses(restarted, accountId), s => Assert.Equal(DatabaseStatus.Disabled, s));
            }
            Assert.False((await Clients.SqlAsync(maria.ConnectionString, "SELECT 1")).Ok);
            Assert.False((await Clients.SqlAsync(pg.ConnectionString, "SELECT 1")).Ok);
        }
        finally
        {
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { }
        }
    }

    private static Task<List<DatabaseStatus>> Statuses(HepDbApp app, string accountId) =>
        app.WithDbAsync(d => d.Databases.Where(x => x.AccountId == accountId).OrderBy(x => x.CreatedAt).Select(x => x.Status).ToListAsync());
}
