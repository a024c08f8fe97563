using System.Net;
using System.Net.Http.Json;
using HepDb.Quotas;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Foundation;

/// <summary>Two HepDb replicas sharing one PostgreSQL metadata store: quotas stay exact and periodic work is done once.</summary>
public sealed class ReplicaTests(EngineServers engines)
{
    [Fact]
    public async Task Two_replicas_on_one_PostgreSQL_store_keep_quotas_exact_and_do_periodic_work_once()
    {
        var settings = await engines.ReplicaSettingsAsync();
        await using var first = new HepDbApp(engines, settings);
        await using var second = new HepDbApp(engines, settings);
        var account = await first.CreateAccountAsync();
        var viaSecond = second.ApiClient(account.Key);

        var creates = Enumerable.Range(0, 20).Select(i => (i % 2 == 0 ? account.Api : viaSecond)
            .PostAsJsonAsync("/api/v1/db/databases", new { name = $"race-{i}", engine = "mariadb" }));
        var statuses = (await Task.WhenAll(creates)).Select(r => r.StatusCode).ToList();
        Assert.Equal(1, statuses.Count(s => s == HttpStatusCode.Created));
        Assert.Equal(19, statuses.Count(s => s == HttpStatusCode.Forbidden));
        Assert.Equal(1, await second.WithDbAsync(d => d.Databases.CountAsync(x => x.AccountId == account.Id)));
        var onEngine = await first.Engine(HepDb.Engines.EngineKind.MariaDb).ListTenantObjectsAsync(CancellationToken.None);
        Assert.Single(onEngine.Databases, n => n.Contains(account.Slug, StringComparison.Ordinal));

        // The periodic passes share a lease: while the first replica holds it, the second's pass does nothing.
        Assert.NotNull(await first.Services.GetRequiredService<QuotaWatcher>().RunOnceAsync(CancellationToken.None));
        Assert.Null(await second.Services.GetRequiredService<QuotaWatcher>().RunOnceAsync(CancellationToken.None));
        Assert.NotNull(await first.Services.GetRequiredService<QuotaWatcher>().RunOnceAsync(CancellationToken.None)); // the holder renews
    }
}
