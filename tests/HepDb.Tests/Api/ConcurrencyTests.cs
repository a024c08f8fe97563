using System.Net;
using System.Text.Json;
using HepDb.Databases;
using HepDb.Engines;
using HepDb.Security;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Api;

/// <summary>The slot is reserved atomically: parallel creates on a one-slot account give exactly one database.</summary>
public abstract class ConcurrencyTests(EngineServers engines)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in.
    public sealed class OnSqlite(EngineServers engines) : ConcurrencyTests(engines.On(Metadata.Sqlite));
    public sealed class OnPostgres(EngineServers engines) : ConcurrencyTests(engines.On(Metadata.Postgres));

    public static TheoryData<string> Engines => new() { "mariadb", "postgres" };

    [Theory, MemberData(nameof(Engines))]
    public async Task Twenty_parallel_creates_on_a_one_slot_account_give_one_database_and_nineteen_refusals(string engine)
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync();
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var racing = Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
        {
            await start.Task;
            var response = await account.Api.SendAsync(Requests.Post(Paths.Databases, Requests.CreateBody($"race-{i}", engine)));
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        })).ToList();
        start.SetResult();
        var answers = await Task.WhenAll(racing);

        var created = Assert.Single(answers, r => r.Item1 == 201);
        var refused = answers.Where(r => r.Item1 != 201).ToList();
        Assert.Equal(19, refused.Count);
        Assert.All(refused, r =>
        {
            Assert.Equal(403, r.Item1);
            Assert.Equal("DATABASE_LIMIT_REACHED", JsonDocument.Parse(r.Item2).RootElement.GetProperty("code").GetString());
        });

        var data = CreatedDatabase.Parse(created.Item2);
        app.Remember(data.Password);
        var letter = engine == "mariadb" ? 'm' : 'p';
        Assert.Equal($"u{letter}_{account.Slug}_1", data.DbName);
        Assert.Equal([$"{(engine == "mariadb" ? "MariaDb" : "Postgres")}:du{letter}_{account.Slug}_1", $"{(engine == "mariadb" ? "MariaDb" : "Postgres")}:u{letter}_{account.Slug}_1"],
            await EngineObjects.ForSlugAsync(engines, account.Slug));
        Assert.Equal(1, await app.WithDbAsync(db => db.Databases.CountAsync(d => d.AccountId == account.Id)));
        Assert.Equal(1, await app.WithDbAsync(db => db.AuditLog.CountAsync(a => a.AccountId == account.Id && a.Action == "database.created")));
        await Tenant.ProveWorksAsync(data.ConnectionString, "the one winner");
    }

    [Fact]
    public async Task Parallel_creates_with_the_same_Idempotency_Key_create_one_database_and_all_get_it()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync();
        var body = Requests.CreateBody("retry-storm", "postgres");

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            var response = await account.Api.SendAsync(Requests.Post(Paths.Databases, body, idempotencyKey: "retry-storm-1"));
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        })));

        Assert.All(responses, r => Assert.True(r.Item1 == 201, r.Item2));
        var ids = responses.Select(r => CreatedDatabase.Parse(r.Item2)).Select(d => (d.Id, d.Password)).Distinct().ToList();
        app.Remember(Assert.Single(ids).Password);
        Assert.Equal(1, await app.WithDbAsync(db => db.Databases.CountAsync(d => d.AccountId == account.Id)));
        Assert.Equal(2, (await EngineObjects.ForSlugAsync(engines, account.Slug)).Count);
    }

    /// <summary>Retries whose original cannot be replayed get a catalog answer, never 500: one while the original create
    /// is still waiting for its engine after the replay's wait, one while the original's database is being deleted.
    /// Neither changes anything.</summary>
    [Fact]
    public async Task A_retry_whose_original_is_still_provisioning_or_being_deleted_gets_a_catalog_answer()
    {
        var clock = new TestClock();
        await using var app = new HepDbApp(engines, clock: clock);
        var account = await app.CreateAccountAsync(Accounts.Tier.Premium);

        await OriginalAsync(app, account, "stuck-1", "slow", DatabasePhase.Provisioning, slot: 1);
        var before = await Footprint.OfAsync(app, account);
        var answer = account.Api.SendAsync(Requests.Post(Paths.Databases, Requests.CreateBody("slow", "mariadb"), idempotencyKey: "stuck-1"));
        await Task.Delay(500);
        clock.Advance(TimeSpan.FromSeconds(31)); // past the replay's wait for the original
        Assert.Contains("still being created", await Shape.FailureAsync(await answer, 503, "ENGINE_UNAVAILABLE"));
        Assert.Equal(before, await Footprint.OfAsync(app, account));

        await OriginalAsync(app, account, "gone-1", "gone", DatabasePhase.Deleting, slot: 2);
        var message = await Refused.AssertAsync(app, account,
            Requests.Post(Paths.Databases, Requests.CreateBody("gone", "mariadb"), idempotencyKey: "gone-1"), 422, "IDEMPOTENCY_KEY_REUSED");
        Assert.Contains("being deleted", message);
    }

    /// <summary>What an earlier create with <paramref name="key"/> left: its record in <paramref name="phase"/> and its key.</summary>
    private static Task<int> OriginalAsync(HepDbApp app, TestAccount account, string key, string name, DatabasePhase phase, int slot) =>
        app.WithDbAsync(db =>
        {
            var id = Hosting.Ulid.New();
            var now = DateTime.UtcNow;
            db.Databases.Add(new TenantDatabase
            {
                Id = id, AccountId = account.Id, Name = name, Engine = HepDb.Engines.EngineKind.MariaDb, Slot = slot,
                DbName = TenantNames.DatabaseName(EngineKind.MariaDb, account.Slug, slot), DbUser = TenantNames.UserName(EngineKind.MariaDb, account.Slug, slot),
                PasswordSealed = app.Services.GetRequiredService<SecretBox>().Encrypt(Secrets.NewDatabasePassword(), id),
                Phase = phase, PhaseChangedAt = now, ConnectionLimit = 5, CreatedAt = now,
            });
            db.IdempotencyRecords.Add(new IdempotencyRecord
            {
                AccountId = account.Id, Key = key, RequestHash = Secrets.Sha256Hex($"mariadb\n{name}"), DatabaseId = id, CreatedAt = now,
            });
            return db.SaveChangesAsync();
        });
}
