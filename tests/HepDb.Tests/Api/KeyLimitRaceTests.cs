using HepDb.Accounts;
using HepDb.Api;
using HepDb.ApiKeys;
using HepDb.Audit;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Api;

/// <summary>The active-key limit is checked and taken atomically per account: parallel mints and re-enables, on one
/// replica or two sharing a store, never leave more active keys than the tier allows.</summary>
public abstract class KeyLimitRaceTests(EngineServers engines)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in.
    public sealed class OnSqlite(EngineServers engines) : KeyLimitRaceTests(engines.On(Metadata.Sqlite));
    public sealed class OnPostgres(EngineServers engines) : KeyLimitRaceTests(engines.On(Metadata.Postgres));

    private const int FreeActiveKeys = 2;

    [Fact]
    public async Task Forty_parallel_mints_on_a_Free_account_give_exactly_two_active_keys()
    {
        await using var app = new HepDbApp(engines);
        var accountId = await CreateKeylessAccountAsync(app);

        var outcomes = await RaceAsync(Enumerable.Range(0, 40).Select(i => (app, (Func<ApiKeyService, Task<Problem?>>)(async keys =>
            (await keys.MintAsync(accountId, $"race-{i}", Actor.Operator, CancellationToken.None)).Problem))));

        AssertExactlyLimit(outcomes);
        Assert.Equal(FreeActiveKeys, await ActiveKeysAsync(app, accountId));
        Assert.Equal(FreeActiveKeys, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.AccountId == accountId && a.Action == "key.minted")));
        Assert.DoesNotContain(app.Log.Lines, l => l.Contains("database is locked", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Parallel_re_enables_of_disabled_keys_never_exceed_the_limit()
    {
        await using var app = new HepDbApp(engines);
        var accountId = await CreateKeylessAccountAsync(app);
        var disabled = new List<string>();
        for (var round = 0; round < 5; round++) // mint to the limit, disable those, again: ten disabled keys
        {
            await using var scope = app.Services.CreateAsyncScope();
            var keys = scope.ServiceProvider.GetRequiredService<ApiKeyService>();
            for (var i = 0; i < FreeActiveKeys; i++)
            {
                var minted = await keys.MintAsync(accountId, null, Actor.Operator, CancellationToken.None);
                Assert.True(minted.Ok, minted.Problem?.Message);
                Assert.True((await keys.DisableAsync(accountId, minted.Value!.Record.Id, Actor.Operator, CancellationToken.None)).Ok);
                disabled.Add(minted.Value.Record.Id);
            }
        }
        Assert.Equal(0, await ActiveKeysAsync(app, accountId));

        // Each key twice: a second enable of a key the first enable won answers OK without taking another slot.
        var outcomes = await RaceAsync(disabled.Concat(disabled).Select(id => (app, (Func<ApiKeyService, Task<Problem?>>)(async keys =>
            (await keys.EnableAsync(accountId, id, Actor.Operator, CancellationToken.None)).Problem))));

        Assert.All(outcomes, p => Assert.True(p is null || p.Error == ErrorCode.KeyLimitReached, p?.Message));
        Assert.Equal(FreeActiveKeys, await ActiveKeysAsync(app, accountId));
        Assert.Equal(FreeActiveKeys, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.AccountId == accountId && a.Action == "key.enabled")));
    }

    [Fact]
    public async Task Forty_parallel_mints_through_two_replicas_on_one_PostgreSQL_store_give_exactly_two_active_keys()
    {
        if (engines.Metadata != Metadata.Postgres) return; // replicas share a store only on PostgreSQL
        var settings = await engines.ReplicaSettingsAsync();
        await using var first = new HepDbApp(engines, settings);
        await using var second = new HepDbApp(engines, settings);
        var accountId = await CreateKeylessAccountAsync(first);
        _ = second.Services;

        var outcomes = await RaceAsync(Enumerable.Range(0, 40).Select(i => (i % 2 == 0 ? first : second, (Func<ApiKeyService, Task<Problem?>>)(async keys =>
            (await keys.MintAsync(accountId, $"race-{i}", Actor.Operator, CancellationToken.None)).Problem))));

        AssertExactlyLimit(outcomes);
        Assert.Equal(FreeActiveKeys, await ActiveKeysAsync(second, accountId));
    }

    private static void AssertExactlyLimit(IReadOnlyList<Problem?> outcomes)
    {
        Assert.Equal(FreeActiveKeys, outcomes.Count(p => p is null));
        Assert.All(outcomes.Where(p => p is not null), p => Assert.Equal(ErrorCode.KeyLimitReached, p!.Error));
        Assert.Equal(outcomes.Count - FreeActiveKeys, outcomes.Count(p => p?.Error == ErrorCode.KeyLimitReached));
    }

    /// <summary>Runs every call in its own DI scope (its own context and connection), all released at once.</summary>
    private static async Task<IReadOnlyList<Problem?>> RaceAsync(IEnumerable<(HepDbApp App, Func<ApiKeyService, Task<Problem?>> Call)> calls)
    {
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var racing = calls.Select(c => Task.Run(async () =>
        {
            await start.Task;
            await using var scope = c.App.Services.CreateAsyncScope();
            return await c.Call(scope.ServiceProvider.GetRequiredService<ApiKeyService>());
        })).ToList();
        start.SetResult();
        return await Task.WhenAll(racing);
    }

    private static async Task<string> CreateKeylessAccountAsync(HepDbApp app)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var created = await scope.ServiceProvider.GetRequiredService<AccountService>()
            .CreateAsync($"{Guid.NewGuid():N}@test.local", Tier.Free.WireName(), Actor.Operator, CancellationToken.None);
        Assert.True(created.Ok, created.Problem?.Message);
        return created.Value!.Id;
    }

    private static Task<int> ActiveKeysAsync(HepDbApp app, string accountId) =>
        app.WithDbAsync(d => d.ApiKeys.CountAsync(k => k.AccountId == accountId && k.DisabledAt == null && k.SuspendedAt == null));
}
