using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Databases;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Api;

/// <summary>Create → connect with exactly the returned string → work; list; reveal; rotate — with the real clients.</summary>
public abstract class DatabaseLifecycleTests(EngineServers engines, SharedApp shared)
{
    // Every test here runs twice, once per metadata provider, named by the class it runs in.
    public sealed class OnSqlite(EngineServers engines, SharedApp shared) : DatabaseLifecycleTests(engines.On(Metadata.Sqlite), shared), IClassFixture<SharedApp>;
    public sealed class OnPostgres(EngineServers engines, SharedApp shared) : DatabaseLifecycleTests(engines.On(Metadata.Postgres), shared), IClassFixture<SharedApp>;
    // Each test works as an account of its own and looks only at that account, so a class shares one app (SharedApp).

    public static TheoryData<string> Engines => new() { "mariadb", "postgres" };

    [Theory, MemberData(nameof(Engines))]
    public async Task Create_returns_the_exact_shape_and_the_connection_string_works_with_the_real_client(string engine)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();

        var response = await account.Api.PostAsJsonAsync(Paths.Databases, new { name = "my-app", engine });
        var data = await Shape.SuccessAsync(response, HttpStatusCode.Created);
        Shape.IsAccess(data, engines, account, engine, "my-app", slot: 1);
        var password = data.GetProperty("password").GetString()!;
        app.Remember(password);

        await Tenant.ProveWorksAsync(data.GetProperty("connectionString").GetString()!, "created ✓");

        // The record is ready, with the connection limit of the tier, and the create is audited against the key.
        var id = data.GetProperty("database").GetProperty("id").GetString()!;
        var (record, audit) = await app.WithDbAsync(async db => (
            await db.Databases.SingleAsync(d => d.Id == id),
            await db.AuditLog.Where(a => a.AccountId == account.Id && a.Action == "database.created").ToListAsync()));
        Assert.Equal(DatabasePhase.Ready, record.Phase);
        Assert.Equal(10, record.ConnectionLimit);
        Assert.StartsWith("key:", Assert.Single(audit).Actor);
    }

    [Fact]
    public async Task The_name_is_trimmed_and_only_a_label()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var response = await account.Api.SendAsync(Requests.Post(Paths.Databases, """{"name":"  Shop DB: prod ✓  ","engine":"postgres"}"""));
        var data = await Shape.SuccessAsync(response, HttpStatusCode.Created);
        app.Remember(data.GetProperty("password").GetString()!);
        Shape.IsAccess(data, engines, account, "postgres", "Shop DB: prod ✓", slot: 1);
    }

    [Fact]
    public async Task List_is_oldest_first_only_the_callers_and_carries_no_secrets()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync(Tier.Premium);
        var other = await app.CreateAccountAsync();

        var empty = await Shape.SuccessAsync(await account.Api.GetAsync(Paths.Databases), HttpStatusCode.OK);
        Shape.HasExactlyKeys(empty, ["databases"]);
        Assert.Equal(0, empty.GetProperty("databases").GetArrayLength());

        var first = await app.CreateDatabaseAsync(account, "postgres", "first");
        var second = await app.CreateDatabaseAsync(account, "mariadb", "second");
        var foreign = await app.CreateDatabaseAsync(other, "mariadb", "foreign");

        var response = await account.Api.GetAsync(Paths.Databases);
        var body = await response.Content.ReadAsStringAsync();
        var data = await Shape.SuccessAsync(response, HttpStatusCode.OK);
        Shape.HasExactlyKeys(data, ["databases"]);
        var items = data.GetProperty("databases").EnumerateArray().ToList();
        Assert.Equal([first.Id, second.Id], items.Select(i => i.GetProperty("id").GetString()));
        Shape.IsDatabaseObject(items[0], account, "postgres", "first", 1);
        Shape.IsDatabaseObject(items[1], account, "mariadb", "second", 1);
        Assert.True(string.CompareOrdinal(items[0].GetProperty("createdAt").GetString(), items[1].GetProperty("createdAt").GetString()) <= 0);

        foreach (var secret in new[] { first.Password, second.Password, foreign.Password, account.Key })
            Assert.DoesNotContain(secret, body, StringComparison.Ordinal);
        Assert.DoesNotContain("password", body, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("connectionString", body, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(foreign.Id, body, StringComparison.Ordinal);
    }

    [Theory, MemberData(nameof(Engines))]
    public async Task Reveal_returns_the_same_shape_and_the_working_password_uncached(string engine)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var created = await app.CreateDatabaseAsync(account, engine, "revealed");
        await Tenant.ProveWorksAsync(created.ConnectionString, "before reveal");

        var response = await account.Api.GetAsync(Paths.Database(created.Id));
        Assert.True(Shape.NoStore(response), $"Cache-Control was '{response.Headers.CacheControl}'");
        var data = await Shape.SuccessAsync(response, HttpStatusCode.OK);
        Shape.IsAccess(data, engines, account, engine, "revealed", slot: 1);
        Assert.Equal(created.Password, data.GetProperty("password").GetString());
        Assert.Equal(created.ConnectionString, data.GetProperty("connectionString").GetString());
        Assert.Equal(created.Id, data.GetProperty("database").GetProperty("id").GetString());

        Assert.Contains("before reveal", await Tenant.MustRunAsync(data.GetProperty("connectionString").GetString()!, "SELECT body FROM proof"));
        Assert.Equal(1, await app.WithDbAsync(db => db.AuditLog.CountAsync(a => a.TargetId == created.Id && a.Action == "database.password_revealed")));
    }

    [Theory, MemberData(nameof(Engines))]
    public async Task Rotate_sets_a_new_password_and_the_old_one_is_refused_at_once(string engine)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var created = await app.CreateDatabaseAsync(account, engine, "rotated");
        await Tenant.ProveWorksAsync(created.ConnectionString, "kept across rotation");

        var response = await account.Api.PostAsync(Paths.Rotate(created.Id), null);
        Assert.True(Shape.NoStore(response), $"Cache-Control was '{response.Headers.CacheControl}'");
        var data = await Shape.SuccessAsync(response, HttpStatusCode.OK);
        Shape.IsAccess(data, engines, account, engine, "rotated", slot: 1);
        var newPassword = data.GetProperty("password").GetString()!;
        app.Remember(newPassword);
        Assert.NotEqual(created.Password, newPassword);

        var refused = await Tenant.MustFailAsync(created.ConnectionString, "SELECT 1");
        Assert.Contains(engine == "mariadb" ? "Access denied" : "password authentication failed", refused);
        Assert.Contains("kept across rotation", await Tenant.MustRunAsync(data.GetProperty("connectionString").GetString()!, "SELECT body FROM proof"));

        // Reveal now gives the new password, and nothing is left pending.
        var revealed = await Shape.SuccessAsync(await account.Api.GetAsync(Paths.Database(created.Id)), HttpStatusCode.OK);
        Assert.Equal(newPassword, revealed.GetProperty("password").GetString());
        var record = await app.WithDbAsync(db => db.Databases.SingleAsync(d => d.Id == created.Id));
        Assert.Null(record.PendingPasswordSealed);
        Assert.Equal(1, await app.WithDbAsync(db => db.AuditLog.CountAsync(a => a.TargetId == created.Id && a.Action == "database.password_rotated")));
    }

    [Fact]
    public async Task Slots_are_numbered_per_engine_with_the_lowest_free_number()
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync(Tier.Admin);

        var m1 = await app.CreateDatabaseAsync(account, "mariadb", "a");
        var p1 = await app.CreateDatabaseAsync(account, "postgres", "b");
        var m2 = await app.CreateDatabaseAsync(account, "mariadb", "c");
        var m3 = await app.CreateDatabaseAsync(account, "mariadb", "d");
        Assert.Equal([$"um_{account.Slug}_1", $"up_{account.Slug}_1", $"um_{account.Slug}_2", $"um_{account.Slug}_3"],
            new[] { m1, p1, m2, m3 }.Select(d => d.DbName));
        Assert.Equal($"dum_{account.Slug}_2", m2.DbUser);

        await DeleteInDashboardAsync(app, account, m2.Id, "c");
        await DeleteInDashboardAsync(app, account, p1.Id, "b");

        var again = await app.CreateDatabaseAsync(account, "mariadb", "e");
        Assert.Equal($"um_{account.Slug}_2", again.DbName);
        Assert.Equal($"dum_{account.Slug}_2", again.DbUser);
        await Tenant.ProveWorksAsync(again.ConnectionString, "slot reused");
        Assert.Equal($"um_{account.Slug}_4", (await app.CreateDatabaseAsync(account, "mariadb", "f")).DbName);
        Assert.Equal($"up_{account.Slug}_1", (await app.CreateDatabaseAsync(account, "postgres", "g")).DbName);
    }

    [Theory]
    [InlineData("Bearer")]
    [InlineData("bearer")]
    [InlineData("BEARER")]
    [InlineData("Token")]
    [InlineData("tOkEn")]
    [InlineData("")]
    public async Task All_three_authorization_forms_are_accepted_with_any_scheme_case(string scheme)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var client = app.ApiClient(account.Key, scheme);
        var data = await Shape.SuccessAsync(await client.GetAsync(Paths.Databases), HttpStatusCode.OK);
        Assert.Equal(0, data.GetProperty("databases").GetArrayLength());
        var created = await Shape.SuccessAsync(await client.PostAsJsonAsync(Paths.Databases, new { name = "x", engine = "mariadb" }), HttpStatusCode.Created);
        app.Remember(created.GetProperty("password").GetString()!);
    }

    private static async Task DeleteInDashboardAsync(HepDbApp app, TestAccount account, string id, string name)
    {
        await using var scope = app.Services.CreateAsyncScope();
        var deleted = await scope.ServiceProvider.GetRequiredService<DatabaseService>().DeleteAsync(account.Id, id, name, Actor.Operator, CancellationToken.None);
        Assert.True(deleted.Ok, deleted.Problem?.Message);
    }

    internal static JsonElement Parse(string body) => JsonDocument.Parse(body).RootElement;
}
