using System.Net;
using HepDb.Databases;
using HepDb.Quotas;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Backups;

/// <summary>A restore into a database that is over quota brings its rows back and leaves its write block in place;
/// freeing space lifts the block as usual, and the tenant then owns and writes what was restored.</summary>
public sealed class BackupOverQuotaTests(EngineServers engines)
{
    [Theory]
    [InlineData("mariadb", "1", "INSERT INTO big (x) SELECT REPEAT('x', 1000) FROM seq_1_to_3000; ANALYZE TABLE big;")]
    [InlineData("postgres", "12", "INSERT INTO big (x) SELECT repeat('x', 1000) FROM generate_series(1, 8000);")]
    public async Task An_over_quota_database_is_restored_and_stays_blocked_until_space_is_freed(string engine, string storageMb, string fill)
    {
        await using var app = new HepDbApp(engines, new() { ["Tiers:Free:StorageMb"] = storageMb });
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, engine);
        var serial = engine == "postgres" ? "serial" : "INT AUTO_INCREMENT";
        await Tenant.MustRunAsync(db.ConnectionString, $"CREATE TABLE big (id {serial} PRIMARY KEY, x TEXT); {fill}");
        var watcher = app.Services.GetRequiredService<QuotaWatcher>();
        await watcher.RunOnceAsync(TestContext.Current.CancellationToken);
        Assert.Equal(DatabaseStatus.OverQuota, (await app.WithDbAsync(m => m.Databases.SingleAsync(d => d.Id == db.Id))).Status);
        var backupId = (await Shape.SuccessAsync(await account.Api.PostAsync(BackupApiTests.BackupsOf(db.Id), null), HttpStatusCode.Created))
            .GetProperty("backup").GetProperty("id").GetString()!;
        var rows = await Tenant.MustRunAsync(db.ConnectionString, "SELECT COUNT(*) FROM big");
        await Tenant.MustRunAsync(db.ConnectionString, "DELETE FROM big WHERE id > 10");

        var restored = await Shape.SuccessAsync(await account.Api.PostAsync(BackupApiTests.Restore(db.Id, backupId), null), HttpStatusCode.OK);
        Assert.Equal("over_quota", restored.GetProperty("database").GetProperty("status").GetString());
        Assert.Equal(rows, await Tenant.MustRunAsync(db.ConnectionString, "SELECT COUNT(*) FROM big"));
        await Tenant.MustFailAsync(db.ConnectionString, "INSERT INTO big (x) VALUES ('still blocked')");
        await Tenant.MustFailAsync(db.ConnectionString, "CREATE TABLE more (id INT)");

        await Tenant.MustRunAsync(db.ConnectionString, "TRUNCATE big");
        await watcher.RunOnceAsync(TestContext.Current.CancellationToken);
        Assert.Equal(DatabaseStatus.Active, (await app.WithDbAsync(m => m.Databases.SingleAsync(d => d.Id == db.Id))).Status);
        await Tenant.MustRunAsync(db.ConnectionString, "INSERT INTO big (x) VALUES ('writes again'); CREATE TABLE more (id INT)");
        if (engine == "postgres")
            Assert.Equal(db.DbUser, await Tenant.MustRunAsync(db.ConnectionString, "SELECT tableowner FROM pg_tables WHERE tablename = 'big'"));
    }
}
