using HepDb.Audit;
using HepDb.Backups;
using HepDb.Databases;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Backups;

/// <summary>The daily backups, retention by tier and the recovery window, on a clock the test moves forward (the
/// scheduler's passes are run directly; its timer stays on real time).</summary>
public sealed class BackupScheduleTests(EngineServers engines)
{
    [Fact]
    public async Task One_backup_a_day_at_the_databases_own_time_kept_for_the_tiers_days()
    {
        var clock = new TestClock();
        await using var app = new HepDbApp(engines, clock: clock);
        var account = await app.CreateAccountAsync(); // Free: kept 3 days
        var db = await app.CreateDatabaseAsync(account, "mariadb");
        await Tenant.MustRunAsync(db.ConnectionString, "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1);");
        var scheduler = app.Services.GetRequiredService<BackupScheduler>();
        var ct = TestContext.Current.CancellationToken;

        // A new database waits for its time of day: nothing is due on the day it was made.
        Assert.Equal(0, (await scheduler.RunOnceAsync(ct))!.Taken);

        clock.Advance(TimeSpan.FromDays(1) + TimeSpan.FromMinutes(1));
        Assert.Equal(1, (await scheduler.RunOnceAsync(ct))!.Taken);
        Assert.Equal(0, (await scheduler.RunOnceAsync(ct))!.Taken); // once a day
        var first = await app.WithDbAsync(m => m.Backups.SingleAsync(b => b.DatabaseId == db.Id));
        Assert.Equal((BackupKind.Scheduled, BackupStatus.Complete), (first.Kind, first.Status));
        Assert.True(first.SizeBytes > 0 && first.DumpBytes > first.SizeBytes, $"stored {first.SizeBytes}, dumped {first.DumpBytes}");
        Assert.False(string.IsNullOrEmpty(first.EngineVersion));

        // Four days on, a new one is taken and the first, past the Free tier's three days, is purged with its file.
        clock.Advance(TimeSpan.FromDays(4));
        var pass = (await scheduler.RunOnceAsync(ct))!;
        Assert.Equal((1, 1), (pass.Taken, pass.Purged));
        var left = await app.WithDbAsync(m => m.Backups.Where(b => b.DatabaseId == db.Id).ToListAsync());
        Assert.DoesNotContain(left, b => b.Id == first.Id);
        Assert.Empty(Directory.GetFiles(Path.Combine(app.DataDir, "backups"), $"{first.Id}.bak", SearchOption.AllDirectories));
    }

    [Fact]
    public void Daily_times_are_spread_over_the_day_and_fixed_per_database()
    {
        var now = new DateTime(2026, 12, 7, 12, 0, 0, DateTimeKind.Utc);
        var ids = Enumerable.Range(0, 2400).Select(_ => HepDb.Hosting.Ulid.New()).ToList();
        var hours = ids.Select(id => BackupService.LastSlot(id, now).Hour).GroupBy(h => h).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(24, hours.Count);
        Assert.All(hours.Values, n => Assert.InRange(n, 50, 150)); // 100 an hour on average
        Assert.All(ids, id => Assert.Equal(BackupService.LastSlot(id, now).TimeOfDay, BackupService.LastSlot(id, now.AddDays(3)).TimeOfDay));
        Assert.All(ids, id => Assert.InRange(BackupService.LastSlot(id, now), now.AddDays(-1).AddTicks(1), now));
    }

    [Fact]
    public async Task A_deleted_database_keeps_a_final_backup_for_the_window_then_it_and_the_others_are_purged()
    {
        var clock = new TestClock();
        await using var app = new HepDbApp(engines, clock: clock);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, "postgres");
        await Tenant.MustRunAsync(db.ConnectionString, "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1);");
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var backups = scope.ServiceProvider.GetRequiredService<BackupService>();
            Assert.True((await backups.CreateAsync(account.Id, db.Id, Actor.Operator, TestContext.Current.CancellationToken)).Ok);
            var deleted = await scope.ServiceProvider.GetRequiredService<DatabaseService>()
                .DeleteAsync(account.Id, db.Id, "my-app", Actor.User("u", null), TestContext.Current.CancellationToken);
            Assert.True(deleted.Ok, deleted.Problem?.Message);
            var recoverable = Assert.Single(await backups.RecoverableAsync(account.Id, TestContext.Current.CancellationToken));
            Assert.Equal((BackupKind.Final, db.Id, "my-app"), (recoverable.Kind, recoverable.DatabaseId, recoverable.DatabaseName));
            Assert.Equal(clock.GetUtcNow().UtcDateTime.AddDays(7), recoverable.ExpiresAt!.Value, TimeSpan.FromMinutes(1));
        }
        var scheduler = app.Services.GetRequiredService<BackupScheduler>();
        // The manual backup of the deleted database goes at once; the final one stays for its window.
        Assert.Equal(1, (await scheduler.RunOnceAsync(TestContext.Current.CancellationToken))!.Purged);
        Assert.Equal([BackupKind.Final], await app.WithDbAsync(m => m.Backups.Where(b => b.DatabaseId == db.Id).Select(b => b.Kind).ToListAsync()));

        clock.Advance(TimeSpan.FromDays(8));
        Assert.Equal(1, (await scheduler.RunOnceAsync(TestContext.Current.CancellationToken))!.Purged);
        Assert.Empty(await app.WithDbAsync(m => m.Backups.Where(b => b.DatabaseId == db.Id).ToListAsync()));
        Assert.Empty(Directory.GetFiles(Path.Combine(app.DataDir, "backups"), "*", SearchOption.AllDirectories));
    }
}
