using HepDb.Engines;
using HepDb.Quotas;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using HepDb.Usage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace HepDb.Tests.Quotas;

/// <summary>
/// The usage history on the real servers, on both metadata providers: the quota watcher runs several times while a
/// tenant's data grows through its own clients and its sessions stay open; each pass leaves one sample per database with
/// the measured size and the open connections, and one per engine; an unreachable server leaves only its own gap; two
/// days later the passes are rolled into hours (the downsampling queries run on the provider).
/// </summary>
public abstract class UsageHistoryTests(EngineServers engines)
{
    public sealed class OnSqlite(EngineServers engines) : UsageHistoryTests(engines.On(Metadata.Sqlite));
    public sealed class OnPostgres(EngineServers engines) : UsageHistoryTests(engines.On(Metadata.Postgres));

    [Fact]
    public async Task Each_pass_samples_sizes_connections_and_engines_and_old_passes_become_hours()
    {
        var clock = new TestClock();
        await using var app = new HepDbApp(engines, new()
        {
            // A MongoDB server that is configured but down: its failure must not cost the other servers their samples.
            ["Engines:Mongo:Enabled"] = "true", ["Engines:Mongo:Local"] = "false",
            ["Engines:Mongo:Port"] = EngineServers.FreePort().ToString(), ["Engines:Mongo:AdminPassword"] = "x",
            ["Engines:Mongo:ConnectTimeout"] = "00:00:02",
        }, clock: clock);
        // The watcher's pass at start runs on its own; once it is over, every pass below is one of this test's.
        await app.WatcherStarted;
        var watcher = app.Services.GetRequiredService<QuotaWatcher>();
        var account = await app.CreateAccountAsync(HepDb.Accounts.Tier.Premium);
        var maria = await app.CreateDatabaseAsync(account, "mariadb", "grows-m");
        var pg = await app.CreateDatabaseAsync(account, "postgres", "grows-p");
        await Tenant.MustRunAsync(maria.ConnectionString, "CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, x TEXT) ENGINE=InnoDB");
        await Tenant.MustRunAsync(pg.ConnectionString, "CREATE TABLE t (id SERIAL PRIMARY KEY, x TEXT)");
        // Open sessions of the tenants' users, counted by the watcher (MariaDB PROCESSLIST, PostgreSQL pg_stat_activity).
        await using var mariaSession = await MariaDbConnections.OpenAsync(maria.Host, maria.Port, maria.DbUser, maria.Password, maria.DbName);
        await using var pgSession = new NpgsqlConnection(OverQuotaTests.TenantConnectionString(pg));
        await pgSession.OpenAsync();

        var passes = new List<DateTime>();
        for (var pass = 0; pass < 4; pass++)
        {
            if (pass > 0)
            {
                await Tenant.MustRunAsync(maria.ConnectionString,
                    "INSERT INTO t (x) SELECT REPEAT(MD5(RAND()), 30) FROM seq_1_to_1500; ANALYZE TABLE t;");
                await Tenant.MustRunAsync(pg.ConnectionString,
                    "INSERT INTO t (x) SELECT string_agg(md5(random()::text || g), '') FROM generate_series(1, 1500) g, generate_series(1, 30) k GROUP BY g");
            }
            clock.Advance(TimeSpan.FromMinutes(10));
            var report = await watcher.RunOnceAsync(CancellationToken.None);
            Assert.NotNull(report);
            // The pass's own time (its run's start, which its samples are stamped with): the clock runs on in real time,
            // so a time read here could fall in the next second.
            passes.Add(await app.WithDbAsync(d => d.JobRuns.AsNoTracking().Where(r => r.Job == "quota-watcher").MaxAsync(r => r.StartedAt)));
            Assert.False(report.Servers.Single(s => s.Engine == "mongo").Ok);
            Assert.All(report.Servers.Where(s => s.Engine != "mongo"), s => Assert.True(s.Ok, s.Error));
        }

        var buckets = passes.Select(UsageHistory.ToBucket).ToList();
        foreach (var db in new[] { maria, pg })
        {
            var rows = await app.WithDbAsync(d => d.SamplesOf(db.Id).AsNoTracking().Where(s => s.Resolution == UsageResolution.Raw)
                .OrderBy(s => s.Bucket).ToListAsync());
            Assert.Equal(buckets, rows.Select(r => r.Bucket));
            var stored = await app.WithDbAsync(d => d.Databases.AsNoTracking().SingleAsync(x => x.Id == db.Id));
            Assert.Equal(stored.SizeBytes, rows[^1].SizeBytes); // the sample is the size the watcher measured and stored
            for (var i = 1; i < rows.Count; i++)
                Assert.True(rows[i].SizeBytes > rows[i - 1].SizeBytes, $"{db.Engine}: pass {i} {rows[i].SizeBytes} B, pass {i - 1} {rows[i - 1].SizeBytes} B");
            Assert.True(rows[^1].SizeBytes - rows[0].SizeBytes > 2 * 1_048_576, $"{db.Engine} grew by {rows[^1].SizeBytes - rows[0].SizeBytes} B only");
            Assert.All(rows, r => Assert.True(r.Connections >= 1, $"{db.Engine}: {r.Connections} connections with a session open"));
        }
        var fleet = await app.WithDbAsync(d => d.FleetSamples.AsNoTracking().Where(s => s.Resolution == UsageResolution.Raw && buckets.Contains(s.Bucket)).ToListAsync());
        Assert.Equal(8, fleet.Count); // one per pass for MariaDB and PostgreSQL; none for the unreachable MongoDB
        Assert.DoesNotContain(fleet, f => f.Engine == EngineKind.Mongo);
        Assert.All(fleet, f => Assert.Equal(1, f.Databases));
        var lastMaria = fleet.Single(f => f.Engine == EngineKind.MariaDb && f.Bucket == buckets[^1]);
        Assert.Equal((await app.WithDbAsync(d => d.Databases.AsNoTracking().SingleAsync(x => x.Id == maria.Id))).SizeBytes, lastMaria.Bytes);

        // Two days later the passes are older than 48 hours: they become hourly rows holding the largest sizes.
        var before = await app.WithDbAsync(d => d.SamplesOf(pg.Id).AsNoTracking().MaxAsync(s => s.SizeBytes));
        clock.Advance(TimeSpan.FromHours(50));
        Assert.NotNull(await watcher.RunOnceAsync(CancellationToken.None));
        var after = await app.WithDbAsync(d => d.SamplesOf(pg.Id).AsNoTracking().ToListAsync());
        Assert.DoesNotContain(after, r => r.Resolution == UsageResolution.Raw && buckets.Contains(r.Bucket));
        var hours = after.Where(r => r.Resolution == UsageResolution.Hourly).ToList();
        Assert.InRange(hours.Count, 1, 2); // the four passes took 40 minutes: one hour, or two across its turn
        Assert.Equal(before, hours.Max(h => h.SizeBytes));
        Assert.Single(after, r => r.Resolution == UsageResolution.Raw);
        Assert.True(await app.WithDbAsync(d => d.FleetSamples.AnyAsync(f => f.Resolution == UsageResolution.Hourly && f.Engine == EngineKind.Postgres)));
    }
}
