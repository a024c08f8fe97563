using HepDb.Audit;
using HepDb.Databases;
using HepDb.Quotas;
using HepDb.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Quotas;

/// <summary>An account is re-evaluated at once when its limits or usage change, not at the next watcher run.</summary>
public sealed class ReevaluationTests(EngineServers engines)
{
    [Fact]
    public async Task Deleting_the_big_database_or_granting_a_pack_lifts_over_quota_at_once()
    {
        await using var app = new HepDbApp(engines, new() { ["Tiers:Free:StorageMb"] = "1", ["Tiers:Free:Databases"] = "2" });
        var account = await app.CreateAccountAsync();
        var big = await app.CreateDatabaseAsync(account, "mariadb", "big");
        var small = await app.CreateDatabaseAsync(account, "mariadb", "small");
        Assert.True((await Clients.MariaDbAsync(big.ConnectionString, "CREATE TABLE t (x TEXT); INSERT INTO t SELECT REPEAT('x', 1000) FROM seq_1_to_3000; ANALYZE TABLE t;")).Ok);
        await OverQuotaTests.RunWatcherAsync(app);
        Assert.Equal(DatabaseStatus.OverQuota, await OverQuotaTests.StatusAsync(app, small.Id));

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var grant = await scope.ServiceProvider.GetRequiredService<PackService>().GrantAsync(account.Id, "db-pack", "operator", null, Actor.Operator, CancellationToken.None);
            Assert.True(grant.Ok);
        }
        Assert.Equal(DatabaseStatus.Active, await OverQuotaTests.StatusAsync(app, small.Id)); // +500 MB, no watcher run needed
        Assert.True((await Clients.MariaDbAsync(small.ConnectionString, "CREATE TABLE ok (id INT)")).Ok);

        await using var strict = new HepDbApp(engines, new() { ["Tiers:Free:StorageMb"] = "1", ["Tiers:Free:Databases"] = "2" });
        var other = await strict.CreateAccountAsync();
        var heavy = await strict.CreateDatabaseAsync(other, "mariadb", "heavy");
        var light = await strict.CreateDatabaseAsync(other, "mariadb", "light");
        Assert.True((await Clients.MariaDbAsync(heavy.ConnectionString, "CREATE TABLE t (x TEXT); INSERT INTO t SELECT REPEAT('x', 1000) FROM seq_1_to_3000; ANALYZE TABLE t;")).Ok);
        await OverQuotaTests.RunWatcherAsync(strict);
        Assert.Equal(DatabaseStatus.OverQuota, await OverQuotaTests.StatusAsync(strict, light.Id));
        await using (var scope = strict.Services.CreateAsyncScope())
        {
            var deleted = await scope.ServiceProvider.GetRequiredService<DatabaseService>().DeleteAsync(other.Id, heavy.Id, "heavy", Actor.Operator, CancellationToken.None);
            Assert.True(deleted.Ok, deleted.Problem?.Message);
        }
        Assert.Equal(DatabaseStatus.Active, await OverQuotaTests.StatusAsync(strict, light.Id));
        Assert.True((await Clients.MariaDbAsync(light.ConnectionString, "CREATE TABLE ok (id INT)")).Ok);
    }
}
