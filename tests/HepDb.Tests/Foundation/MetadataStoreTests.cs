using HepDb.Accounts;
using HepDb.ApiKeys;
using HepDb.Data;
using HepDb.Databases;
using HepDb.Hosting;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Tests.Foundation;

/// <summary>The same hand-written migrations run on both metadata providers, and every entity round-trips.</summary>
public sealed class MetadataStoreTests(EngineServers engines)
{
    [Fact]
    public Task Sqlite_migrates_and_round_trips() => OnSqliteAsync(async (metadata, hepdb) =>
    {
        await RoundTripAsync(metadata, hepdb);
        var file = Path.Combine(hepdb.DataDir, "hepdb.db");
        Assert.True(File.Exists(file));
        await using var conn = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file}");
        await conn.OpenAsync();
        await using var cmd = conn.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string?)await cmd.ExecuteScalarAsync());
    });

    /// <summary>Runs <paramref name="test"/> on a SQLite store in a folder of its own, removed afterwards.</summary>
    private static async Task OnSqliteAsync(Func<MetadataOptions, HepDbOptions, Task> test)
    {
        var dir = Path.Combine(Path.GetTempPath(), $"hepdb-meta-{Guid.NewGuid():N}");
        try
        {
            await test(new MetadataOptions { Provider = "sqlite" }, new HepDbOptions { DataDir = dir });
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>SQLite transactions take turns on an async gate (a waiting writer holds no thread), and every way a
    /// transaction ends gives the turn back: commit, rollback, and disposal without either.</summary>
    [Fact]
    public async Task Sqlite_transactions_take_turns_and_every_end_gives_the_turn_back()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"hepdb-meta-{Guid.NewGuid():N}");
        var builder = new DbContextOptionsBuilder<HepDbContext>();
        MetadataStore.Configure(builder, new MetadataOptions { Provider = "sqlite" }, new HepDbOptions { DataDir = dir });
        try
        {
            await using (var db = new HepDbContext(builder.Options)) await db.Database.MigrateAsync();
            await using var first = new HepDbContext(builder.Options);
            await using var second = new HepDbContext(builder.Options);

            var held = await first.Database.BeginTransactionAsync();
            var waiting = second.Database.BeginTransactionAsync();
            await Task.Delay(200);
            Assert.False(waiting.IsCompleted, "a second transaction started while the first was open");
            await held.DisposeAsync(); // neither committed nor rolled back
            var next = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
            await next.CommitAsync();
            await next.DisposeAsync();

            await (await first.Database.BeginTransactionAsync()).RollbackAsync();
            await using var last = await second.Database.BeginTransactionAsync().WaitAsync(TimeSpan.FromSeconds(5));
            await last.CommitAsync();
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public Task Postgres_migrates_and_round_trips() => OnPostgresAsync(RoundTripAsync);

    /// <summary>Runs <paramref name="test"/> on a PostgreSQL store of its own (a new database on the shared server).</summary>
    private async Task OnPostgresAsync(Func<MetadataOptions, HepDbOptions, Task> test) =>
        await test(new MetadataOptions { Provider = "postgres", ConnectionString = await engines.CreateMetadataDatabaseAsync() }, new HepDbOptions());

    [Fact]
    public Task Sqlite_upgrade_keeps_the_users_of_admin_tier_accounts_operators() => OnSqliteAsync(UpgradeKeepsOperatorsAsync);

    [Fact]
    public Task Postgres_upgrade_keeps_the_users_of_admin_tier_accounts_operators() => OnPostgresAsync(UpgradeKeepsOperatorsAsync);

    /// <summary>20261207000008_OperatorRight: the operator right became a column of the user; the users of admin-tier
    /// accounts (the operators until then) get it, nobody else does.</summary>
    private static async Task UpgradeKeepsOperatorsAsync(MetadataOptions metadata, HepDbOptions hepdb)
    {
        var builder = new DbContextOptionsBuilder<HepDbContext>();
        MetadataStore.Configure(builder, metadata, hepdb);
        var now = new DateTime(2026, 12, 1, 12, 0, 0, DateTimeKind.Utc);
        var accounts = new[] { (Id: Ulid.New(), Tier: "admin"), (Id: Ulid.New(), Tier: "premium"), (Id: Ulid.New(), Tier: "free") };
        await using (var db = new HepDbContext(builder.Options))
        {
            await Microsoft.EntityFrameworkCore.Infrastructure.AccessorExtensions.GetService<Microsoft.EntityFrameworkCore.Migrations.IMigrator>(db)
                .MigrateAsync("20261207000007_Backups");
            foreach (var (id, tier) in accounts)
            {
                var email = $"{id.ToLowerInvariant()}@x.test";
                await db.Database.ExecuteSqlAsync(
                    $"""INSERT INTO accounts ("Id", "Email", "Tier", "CreatedAt", "Revision") VALUES ({id}, {email}, {tier}, {now}, {0L})""");
                await db.Database.ExecuteSqlAsync(
                    $"""INSERT INTO dashboard_users ("Id", "AccountId", "Email", "NormalizedEmail", "SecurityStamp", "AccessFailedCount", "CreatedAt") VALUES ({Ulid.New()}, {id}, {email}, {email.ToUpperInvariant()}, {"s"}, {0}, {now})""");
            }
            await db.Database.MigrateAsync();
            Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        }
        await using (var db = new HepDbContext(builder.Options))
        {
            var ids = accounts.Select(a => a.Id).ToList();
            var operators = await db.DashboardUsers.Where(u => ids.Contains(u.AccountId)).ToDictionaryAsync(u => u.AccountId, u => u.IsOperator);
            Assert.Equal([true, false, false], accounts.Select(a => operators[a.Id]));
        }
    }

    [Fact]
    public Task Sqlite_upgrade_keeps_the_usage_history_under_series_keys() => OnSqliteAsync(UpgradeKeepsHistoryAsync);

    [Fact]
    public Task Postgres_upgrade_keeps_the_usage_history_under_series_keys() => OnPostgresAsync(UpgradeKeepsHistoryAsync);

    /// <summary>20261207000012_UsageSeries: the samples, keyed by database id until then, move to a series key per
    /// database, every row and value kept; new series get keys of their own after the copied ones.</summary>
    private static async Task UpgradeKeepsHistoryAsync(MetadataOptions metadata, HepDbOptions hepdb)
    {
        var builder = new DbContextOptionsBuilder<HepDbContext>();
        MetadataStore.Configure(builder, metadata, hepdb);
        var (a, b) = (Ulid.New(), Ulid.New());
        var old = new[] { (a, 0, 1_796_000_000L, 100L, (int?)1), (a, 0, 1_796_000_060L, 200L, null), (a, 1, 1_795_996_400L, 150L, 3), (b, 0, 1_796_000_000L, 7L, 0) };
        await using (var db = new HepDbContext(builder.Options))
        {
            await Microsoft.EntityFrameworkCore.Infrastructure.AccessorExtensions.GetService<Microsoft.EntityFrameworkCore.Migrations.IMigrator>(db)
                .MigrateAsync("20261207000011_Fleet");
            foreach (var (id, resolution, bucket, size, connections) in old)
                await db.Database.ExecuteSqlAsync(
                    $"""INSERT INTO usage_samples ("DatabaseId", "Resolution", "Bucket", "SizeBytes", "Connections") VALUES ({id}, {resolution}, {bucket}, {size}, {connections})""");
            await db.Database.MigrateAsync();
            Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        }
        await using (var db = new HepDbContext(builder.Options))
        {
            foreach (var id in new[] { a, b })
            {
                var rows = await db.SamplesOf(id).OrderBy(s => s.Resolution).ThenBy(s => s.Bucket).ToListAsync();
                Assert.Equal(old.Where(o => o.Item1 == id).OrderBy(o => o.Item2).ThenBy(o => o.Item3).Select(o => ((int)o.Item2, o.Item3, o.Item4, o.Item5)),
                    rows.Select(r => ((int)r.Resolution, r.Bucket, r.SizeBytes, r.Connections)));
            }
            var keys = await db.UsageSeries.Select(k => k.Key).ToListAsync();
            Assert.Equal(2, keys.Distinct().Count());
            var fresh = new HepDb.Usage.UsageSeries { DatabaseId = Ulid.New() };
            db.UsageSeries.Add(fresh);
            await db.SaveChangesAsync();
            Assert.DoesNotContain(fresh.Key, keys);
            db.UsageSeries.Add(new HepDb.Usage.UsageSeries { DatabaseId = a }); // one series per database
            await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveChangesAsync());
        }
    }

    private static async Task RoundTripAsync(MetadataOptions metadata, HepDbOptions hepdb)
    {
        var builder = new DbContextOptionsBuilder<HepDbContext>();
        MetadataStore.Configure(builder, metadata, hepdb);
        var now = new DateTime(2026, 5, 28, 12, 0, 0, 123, DateTimeKind.Utc);
        var accountId = Ulid.New();
        await using (var db = new HepDbContext(builder.Options))
        {
            await db.Database.MigrateAsync();
            Assert.Empty(await db.Database.GetPendingMigrationsAsync());
            db.Accounts.Add(new Account { Id = accountId, Email = $"{accountId}@x.test", Tier = Tier.Premium, CreatedAt = now });
            db.ApiKeys.Add(new ApiKey { Id = Ulid.New(), AccountId = accountId, Prefix = "hepgg_db_abcd", Hash = new string('a', 64), CreatedAt = now });
            db.Databases.Add(new TenantDatabase
            {
                Id = Ulid.New(), AccountId = accountId, Name = "my-app ✓", Engine = HepDb.Engines.EngineKind.Postgres, Slot = 1, DbName = "up_x_1",
                DbUser = "dup_x_1", PasswordSealed = "v1.k.abc", Phase = DatabasePhase.Ready, PhaseChangedAt = now,
                SizeBytes = 5_000_000_000, SizeRefreshedAt = now, CreatedAt = now, ConnectionLimit = 25,
            });
            db.DashboardUsers.Add(new HepDb.Web.Users.DashboardUser
            {
                Id = Ulid.New(), AccountId = accountId, Email = $"{accountId}@x.test", NormalizedEmail = $"{accountId}@X.TEST",
                PasswordHash = "AQAAAA…", SecurityStamp = "stamp", LockoutEndUtc = now, AccessFailedCount = 3, IsOperator = true, CreatedAt = now,
            });
            db.DataProtectionKeys.Add(new HepDb.Web.Users.DataProtectionKey { Id = $"key-{accountId}", FriendlyName = "key", Xml = "<sealed>v1.k.x</sealed>" });
            await db.EngineSwitches.Where(e => e.Engine == HepDb.Engines.EngineKind.Postgres).ExecuteDeleteAsync();
            db.EngineSwitches.Add(new HepDb.Engines.EngineSwitch { Engine = HepDb.Engines.EngineKind.Postgres, Enabled = false, ChangedAt = now, ChangedBy = "operator" });
            db.EngineServers.Add(new HepDb.Fleet.EngineServer
            {
                Id = $"postgres/{accountId.ToLowerInvariant()}", Engine = HepDb.Engines.EngineKind.Postgres, Name = accountId.ToLowerInvariant(), Host = "db2.example.test",
                Port = 5432, AdminUser = "postgres", AdminPasswordSealed = "v1.k.sealed", MaxDatabases = 500, MaxBytes = 50_000_000_000,
                State = HepDb.Fleet.ServerState.Draining, CreatedAt = now, ChangedAt = now,
            });
            await db.SaveChangesAsync();
        }
        await using (var db = new HepDbContext(builder.Options))
        {
            var account = await db.Accounts.SingleAsync(a => a.Id == accountId);
            Assert.Equal(Tier.Premium, account.Tier);
            Assert.Equal(now, account.CreatedAt);
            Assert.Equal(DateTimeKind.Utc, account.CreatedAt.Kind);
            var database = await db.Databases.SingleAsync(d => d.AccountId == accountId);
            Assert.Equal("my-app ✓", database.Name);
            Assert.Equal(5_000_000_000, database.SizeBytes);
            Assert.Equal(now, database.SizeRefreshedAt);
            Assert.Single(await db.ApiKeys.Where(k => k.AccountId == accountId).ToListAsync());
            var user = await db.DashboardUsers.SingleAsync(u => u.AccountId == accountId);
            Assert.Equal((now, 3, "stamp", true), (user.LockoutEndUtc!.Value, user.AccessFailedCount, user.SecurityStamp, user.IsOperator));
            Assert.Equal("<sealed>v1.k.x</sealed>", (await db.DataProtectionKeys.SingleAsync(k => k.Id == $"key-{accountId}")).Xml);
            var server = await db.EngineServers.SingleAsync(e => e.Id == $"postgres/{accountId.ToLowerInvariant()}");
            Assert.Equal((HepDb.Fleet.ServerState.Draining, 500, 50_000_000_000L, 5432), (server.State, server.MaxDatabases!.Value, server.MaxBytes!.Value, server.Port));
            Assert.Equal("draining", await db.Database.SqlQuery<string>($"""SELECT "State" AS "Value" FROM engine_servers WHERE "Id" = {server.Id}""").SingleAsync());
            var engineSwitch = await db.EngineSwitches.SingleAsync(e => e.Engine == HepDb.Engines.EngineKind.Postgres);
            Assert.False(engineSwitch.Enabled);
            Assert.Equal(now, engineSwitch.ChangedAt);
            // Enums are stored as the strings the columns held before they were enums, so old rows read as before.
            Assert.Equal("premium", await db.Database.SqlQuery<string>($"""SELECT "Tier" AS "Value" FROM accounts WHERE "Id" = {accountId}""").SingleAsync());
            Assert.Equal("postgres active ready", await db.Database.SqlQuery<string>(
                $"""SELECT "Engine" || ' ' || "Status" || ' ' || "Phase" AS "Value" FROM databases WHERE "AccountId" = {accountId}""").SingleAsync());
            // The unique slot index holds on both providers.
            db.Databases.Add(new TenantDatabase
            {
                Id = Ulid.New(), AccountId = accountId, Name = "dup", Engine = HepDb.Engines.EngineKind.Postgres, Slot = 1, DbName = "up_x_9",
                DbUser = "dup_x_9", PasswordSealed = "v1.k.abc", CreatedAt = now,
            });
            await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveChangesAsync());
        }
        await using (var db = new HepDbContext(builder.Options))
        {
            // One user per email, on both providers.
            db.DashboardUsers.Add(new HepDb.Web.Users.DashboardUser
            {
                Id = Ulid.New(), AccountId = accountId, Email = "other", NormalizedEmail = $"{accountId}@X.TEST", SecurityStamp = "s", CreatedAt = now,
            });
            await Assert.ThrowsAsync<DbUpdateException>(() => db.SaveChangesAsync());
        }
    }
}
