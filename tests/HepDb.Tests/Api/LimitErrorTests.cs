using System.Net;
using System.Net.Http.Json;
using HepDb.Accounts;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace HepDb.Tests.Api;

/// <summary>DATABASE_LIMIT_REACHED, STORAGE_QUOTA_EXCEEDED, IDEMPOTENCY_KEY_REUSED (and replay), RATE_LIMITED.</summary>
public abstract class LimitErrorTests(EngineServers engines, SharedApp shared)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in.
    public sealed class OnSqlite(EngineServers engines, SharedApp shared) : LimitErrorTests(engines.On(Metadata.Sqlite), shared), IClassFixture<SharedApp>;
    public sealed class OnPostgres(EngineServers engines, SharedApp shared) : LimitErrorTests(engines.On(Metadata.Postgres), shared), IClassFixture<SharedApp>;
    // A test with default settings works as accounts of its own and looks only at them, so those share one app
    // (SharedApp); a test that needs other settings or a clock starts its own.

    [Fact]
    public async Task A_free_account_gets_one_database_then_DATABASE_LIMIT_REACHED_on_any_engine()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var first = await app.CreateDatabaseAsync(account, "postgres");

        foreach (var engine in new[] { "postgres", "mariadb" })
        {
            var message = await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, Requests.CreateBody("second", engine)), 403, "DATABASE_LIMIT_REACHED");
            Assert.Contains("1", message, StringComparison.Ordinal);
        }
        await Tenant.MustRunAsync(first.ConnectionString, "SELECT 1");
    }

    [Fact]
    public async Task A_premium_account_gets_two_databases()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync(Tier.Premium);
        await app.CreateDatabaseAsync(account, "mariadb");
        await app.CreateDatabaseAsync(account, "postgres");
        await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, Requests.CreateBody("third", "mariadb")), 403, "DATABASE_LIMIT_REACHED");
    }

    [Fact]
    public async Task An_account_at_its_storage_limit_gets_STORAGE_QUOTA_EXCEEDED()
    {
        await using var app = new HepDbApp(engines, new() { ["Tiers:Free:StorageMb"] = "0" });
        var account = await app.CreateAccountAsync();
        foreach (var engine in new[] { "mariadb", "postgres" })
            await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, Requests.CreateBody("x", engine)), 403, "STORAGE_QUOTA_EXCEEDED");
    }

    [Fact]
    public async Task An_account_whose_measured_size_exceeds_the_limit_gets_STORAGE_QUOTA_EXCEEDED()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync(Tier.Premium);
        var db = await app.CreateDatabaseAsync(account, "mariadb");
        // As the quota watcher would record it: 500 MB measured, the Premium limit.
        await app.WithDbAsync(x => x.Databases.Where(d => d.Id == db.Id).ExecuteUpdateAsync(s => s.SetProperty(d => d.SizeBytes, 500L * 1_048_576)));
        var message = await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, Requests.CreateBody("more", "postgres")), 403, "STORAGE_QUOTA_EXCEEDED");
        Assert.Contains("500", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_same_Idempotency_Key_and_body_replays_the_same_database_and_creates_one()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync(Tier.Premium);
        var body = Requests.CreateBody("idem", "postgres");

        var first = await Shape.SuccessAsync(await account.Api.SendAsync(Requests.Post(Paths.Databases, body, idempotencyKey: "deploy-42")), HttpStatusCode.Created);
        app.Remember(first.GetProperty("password").GetString()!);
        var footprint = await Footprint.OfAsync(app, account);
        var replay = await account.Api.SendAsync(Requests.Post(Paths.Databases, body, idempotencyKey: "deploy-42"));
        Assert.True(Shape.NoStore(replay));
        var again = await Shape.SuccessAsync(replay, HttpStatusCode.Created);

        Assert.Equal(first.GetRawText(), again.GetRawText());
        var after = await Footprint.OfAsync(app, account);
        Assert.Equal(footprint.DatabaseRows, after.DatabaseRows);
        Assert.Equal(footprint.EngineObjects, after.EngineObjects);
        Assert.Equal(1, after.DatabaseRows);
        await Tenant.MustRunAsync(again.GetProperty("connectionString").GetString()!, "SELECT 1");

        // Without the header, the same body is a new database (the second Premium slot).
        var second = await Shape.SuccessAsync(await account.Api.SendAsync(Requests.Post(Paths.Databases, body)), HttpStatusCode.Created);
        app.Remember(second.GetProperty("password").GetString()!);
        Assert.NotEqual(first.GetProperty("database").GetProperty("id").GetString(), second.GetProperty("database").GetProperty("id").GetString());
    }

    [Fact]
    public async Task The_same_Idempotency_Key_with_another_body_is_IDEMPOTENCY_KEY_REUSED()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync(Tier.Premium);
        var created = await Shape.SuccessAsync(
            await account.Api.SendAsync(Requests.Post(Paths.Databases, Requests.CreateBody("one", "mariadb"), idempotencyKey: "k-1")), HttpStatusCode.Created);
        app.Remember(created.GetProperty("password").GetString()!);

        foreach (var other in new[] { Requests.CreateBody("two", "mariadb"), Requests.CreateBody("one", "postgres") })
            await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, other, idempotencyKey: "k-1"), 422, "IDEMPOTENCY_KEY_REUSED");
    }

    [Fact]
    public async Task Different_accounts_may_use_the_same_Idempotency_Key()
    {
        var app = shared.For(engines);
        var a = await app.CreateAccountAsync();
        var b = await app.CreateAccountAsync();
        var body = Requests.CreateBody("shared-key", "mariadb");

        var fromA = await Shape.SuccessAsync(await a.Api.SendAsync(Requests.Post(Paths.Databases, body, idempotencyKey: "same")), HttpStatusCode.Created);
        var fromB = await Shape.SuccessAsync(await b.Api.SendAsync(Requests.Post(Paths.Databases, body, idempotencyKey: "same")), HttpStatusCode.Created);
        app.Remember(fromA.GetProperty("password").GetString()!);
        app.Remember(fromB.GetProperty("password").GetString()!);

        Shape.IsAccess(fromA, engines, a, "mariadb", "shared-key", 1);
        Shape.IsAccess(fromB, engines, b, "mariadb", "shared-key", 1);
        Assert.NotEqual(fromA.GetProperty("password").GetString(), fromB.GetProperty("password").GetString());
    }

    [Fact]
    public async Task An_Idempotency_Key_over_255_characters_is_refused()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        await Refused.AssertAsync(app, account, Requests.Post(Paths.Databases, Requests.CreateBody(), idempotencyKey: new string('k', 256)), 400, "INVALID_BODY");
        var ok = await account.Api.SendAsync(Requests.Post(Paths.Databases, Requests.CreateBody(), idempotencyKey: new string('k', 255)));
        app.Remember((await Shape.SuccessAsync(ok, HttpStatusCode.Created)).GetProperty("password").GetString()!);
    }

    [Fact]
    public async Task Requests_over_the_per_key_limit_are_RATE_LIMITED_with_Retry_After()
    {
        await using var app = new HepDbApp(engines, new() { ["RateLimits:PerKeyPerMinute"] = "3" });
        var account = await app.CreateAccountAsync();
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.OK, (await account.Api.GetAsync(Paths.Databases)).StatusCode);

        var before = await Footprint.OfAsync(app, account);
        var limited = await account.Api.PostAsJsonAsync(Paths.Databases, new { name = "x", engine = "mariadb" });
        await Shape.FailureAsync(limited, 429, "RATE_LIMITED");
        AssertRetryAfter(limited);
        Assert.Equal(before, await Footprint.OfAsync(app, account));
        await Shape.FailureAsync(await account.Api.GetAsync(Paths.Databases), 429, "RATE_LIMITED");

        // The limit is per key: another key of the same account still works.
        var otherKey = app.ApiClient(await app.MintKeyAsync(account.Id));
        Assert.Equal(HttpStatusCode.OK, (await otherKey.GetAsync(Paths.Databases)).StatusCode);
    }

    [Fact]
    public async Task Failed_authentications_are_limited_per_IP_and_then_even_a_good_key_is_RATE_LIMITED()
    {
        await using var app = new HepDbApp(engines, new() { ["RateLimits:FailedAuthPerIpPerMinute"] = "3" });
        var account = await app.CreateAccountAsync();
        var guesser = app.ApiClient("hepgg_db_" + new string('A', 32));
        for (var i = 0; i < 3; i++) await Shape.FailureAsync(await guesser.GetAsync(Paths.Databases), 401, "BAD_KEY");

        var limited = await guesser.GetAsync(Paths.Databases);
        await Shape.FailureAsync(limited, 429, "RATE_LIMITED");
        AssertRetryAfter(limited);
        var before = await Footprint.OfAsync(app, account);
        var goodButLimited = await account.Api.PostAsJsonAsync(Paths.Databases, new { name = "x", engine = "mariadb" });
        await Shape.FailureAsync(goodButLimited, 429, "RATE_LIMITED");
        AssertRetryAfter(goodButLimited);
        Assert.Equal(before, await Footprint.OfAsync(app, account));
    }

    [Fact]
    public async Task Requests_over_the_per_IP_limit_are_RATE_LIMITED_whatever_the_key()
    {
        await using var app = new HepDbApp(engines, new() { ["RateLimits:PerIpPerMinute"] = "4" });
        var a = await app.CreateAccountAsync();
        var b = await app.CreateAccountAsync();
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await a.Api.GetAsync(Paths.Databases)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await b.Api.GetAsync(Paths.Databases)).StatusCode);
        }
        var limited = await b.Api.GetAsync(Paths.Databases);
        await Shape.FailureAsync(limited, 429, "RATE_LIMITED");
        AssertRetryAfter(limited);
    }

    [Fact]
    public async Task Retry_After_counts_down_to_the_end_of_the_window()
    {
        var clock = new TestClock();
        await using var app = new HepDbApp(engines, new() { ["RateLimits:PerKeyPerMinute"] = "1" }, clock: clock);
        var account = await app.CreateAccountAsync();
        Assert.Equal(HttpStatusCode.OK, (await account.Api.GetAsync(Paths.Databases)).StatusCode);

        async Task<double> RetryAfterAsync()
        {
            var limited = await account.Api.GetAsync(Paths.Databases);
            await Shape.FailureAsync(limited, 429, "RATE_LIMITED");
            AssertRetryAfter(limited);
            return limited.Headers.RetryAfter!.Delta!.Value.TotalSeconds;
        }
        Assert.InRange(await RetryAfterAsync(), 58, 60);
        clock.Advance(TimeSpan.FromSeconds(25));
        Assert.InRange(await RetryAfterAsync(), 33, 35);
        // Near the end (leaving room for a slow machine: the test clock also moves with real time).
        clock.Advance(TimeSpan.FromSeconds(32));
        Assert.InRange(await RetryAfterAsync(), 1, 3);
        clock.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(HttpStatusCode.OK, (await account.Api.GetAsync(Paths.Databases)).StatusCode);
    }

    private static void AssertRetryAfter(HttpResponseMessage response)
    {
        var retry = response.Headers.RetryAfter;
        Assert.NotNull(retry);
        Assert.NotNull(retry.Delta);
        Assert.InRange(retry.Delta.Value.TotalSeconds, 1, 60);
        Assert.Matches("^[0-9]+$", string.Join(",", response.Headers.GetValues("Retry-After")));
    }
}
