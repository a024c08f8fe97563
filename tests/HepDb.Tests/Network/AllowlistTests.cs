using System.Net;
using System.Text.Json;
using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Databases;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Network;

/// <summary>Per-database IP allowlists (SPEC §3b) through the API, enforced by the engines themselves and proved with
/// the real clients connecting from two source addresses (127.0.0.1 directly, 127.0.0.2 through a relay).</summary>
public sealed class AllowlistTests(EngineServers engines, SharedApp shared) : IClassFixture<SharedApp>
{
    public static TheoryData<string> Engines => new() { "mariadb", "postgres" };

    private static string AllowlistOf(string id) => $"{Paths.Database(id)}/allowlist";

    private static StringContent Body(params string[] cidrs) => Requests.Json(JsonSerializer.Serialize(new { cidrs }));

    private static async Task WithAsync<TService>(HepDbApp app, Func<TService, Task> work) where TService : notnull
    {
        await using var scope = app.Services.CreateAsyncScope();
        await work(scope.ServiceProvider.GetRequiredService<TService>());
    }

    private int PortOf(string engine) => engine == "mariadb" ? engines.Engines.MariaDb.Port : engines.Engines.Postgres.Port;

    [Theory, MemberData(nameof(Engines))]
    public async Task An_allowlisted_database_refuses_other_addresses_and_accepts_allowed_ones(string engine)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, engine);
        await using var from2 = new SourceAddressRelay(IPAddress.Parse("127.0.0.2"), PortOf(engine));
        var via2 = from2.Through(db.ConnectionString);
        await Tenant.MustRunAsync(db.ConnectionString, "SELECT 1"); // anywhere by default
        await Tenant.MustRunAsync(via2, "SELECT 1");
        var empty = await ApiAssert.OkAsync(await account.Api.GetAsync(AllowlistOf(db.Id)));
        Assert.Equal("""{"cidrs":[]}""", empty.GetRawText());

        // Only 127.0.0.2: the direct login (from 127.0.0.1) is refused by the engine, the relayed one works.
        var set = await ApiAssert.OkAsync(await account.Api.PutAsync(AllowlistOf(db.Id), Body("127.0.0.2/32", "2001:db8::1")));
        Assert.Equal("""{"cidrs":["127.0.0.2/32","2001:db8::1/128"]}""", set.GetRawText());
        var refused = await Clients.SqlAsync(db.ConnectionString, "SELECT 1");
        Assert.False(refused.Ok, refused.ToString());
        Assert.Matches(engine == "mariadb" ? "Access denied" : "no pg_hba.conf entry|rejects connection", refused.Error);
        Assert.Equal("1", await Tenant.MustRunAsync(via2, "SELECT 1"));

        // A range: 127.0.0.0/30 holds both.
        await ApiAssert.OkAsync(await account.Api.PutAsync(AllowlistOf(db.Id), Body("127.0.0.3/30")));
        Assert.Equal("""{"cidrs":["127.0.0.0/30"]}""", (await ApiAssert.OkAsync(await account.Api.GetAsync(AllowlistOf(db.Id)))).GetRawText());
        await Tenant.MustRunAsync(db.ConnectionString, "SELECT 1");
        await Tenant.MustRunAsync(via2, "SELECT 1");

        // Only 127.0.0.1: now the relayed login is the refused one; data and writes are untouched.
        await ApiAssert.OkAsync(await account.Api.PutAsync(AllowlistOf(db.Id), Body("127.0.0.1")));
        Assert.False((await Clients.SqlAsync(via2, "SELECT 1")).Ok);
        await Tenant.ProveWorksAsync(db.ConnectionString, "allowlisted");

        // Empty again: anywhere.
        await ApiAssert.OkAsync(await account.Api.PutAsync(AllowlistOf(db.Id), Body()));
        await Tenant.MustRunAsync(via2, "SELECT 1");
        var audit = await app.WithDbAsync(d => d.AuditLog.Where(a => a.TargetId == db.Id && a.Action == "database.allowlist_changed").OrderBy(a => a.Id).Select(a => a.Detail).ToListAsync());
        Assert.Equal(["127.0.0.2/32 2001:db8::1/128", "127.0.0.0/30", "127.0.0.1/32", "anywhere"], audit);
    }

    [Theory, MemberData(nameof(Engines))]
    public async Task A_rotated_password_and_a_suspension_reach_every_allowed_address(string engine)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, engine);
        await using var from2 = new SourceAddressRelay(IPAddress.Parse("127.0.0.2"), PortOf(engine));
        await ApiAssert.OkAsync(await account.Api.PutAsync(AllowlistOf(db.Id), Body("127.0.0.1", "127.0.0.2")));

        var rotated = CreatedDatabase.Parse(await (await account.Api.PostAsync(Paths.Rotate(db.Id), null)).Content.ReadAsStringAsync());
        Assert.False((await Clients.SqlAsync(db.ConnectionString, "SELECT 1")).Ok); // the old password, from either address
        Assert.False((await Clients.SqlAsync(from2.Through(db.ConnectionString), "SELECT 1")).Ok);
        await Tenant.MustRunAsync(rotated.ConnectionString, "SELECT 1");
        await Tenant.MustRunAsync(from2.Through(rotated.ConnectionString), "SELECT 1");

        await WithAsync<Suspension>(app, s => s.SuspendAsync(account.Id, "abuse", Actor.Operator, CancellationToken.None));
        Assert.False((await Clients.SqlAsync(rotated.ConnectionString, "SELECT 1")).Ok);
        Assert.False((await Clients.SqlAsync(from2.Through(rotated.ConnectionString), "SELECT 1")).Ok);
        await ApiAssert.ErrorAsync(await account.Api.PutAsync(AllowlistOf(db.Id), Body()), 401, "KEY_DISABLED"); // suspension disables the keys too
        await WithAsync<Suspension>(app, s => s.LiftAsync(account.Id, "resolved", Actor.Operator, CancellationToken.None));
        await Tenant.MustRunAsync(from2.Through(rotated.ConnectionString), "SELECT 1");
        await Tenant.MustRunAsync(rotated.ConnectionString, "SELECT 1");
    }

    [Theory]
    [InlineData("""{"cidrs":["999.1.1.1/8"]}""", "cidrs[0]")]
    [InlineData("""{"cidrs":["10.0.0.0/33"]}""", "cidrs[0]")]
    [InlineData("""{"cidrs":["10.0.0.0/8", "example.com"]}""", "cidrs[1]")]
    [InlineData("""{"cidrs":["10.0.0.0/"]}""", "cidrs[0]")]
    [InlineData("""{"cidrs":"10.0.0.0/8"}""", "array of strings")]
    [InlineData("""{"cidrs":[10]}""", "array of strings")]
    [InlineData("""{}""", "array of strings")]
    [InlineData("""{"cidrs":[],"extra":1}""", "Unknown field")]
    [InlineData("""{"cidrs":["2001:db8::/32"]}""", "IPv6")] // MariaDB: one IPv6 address at a time
    public async Task An_invalid_allowlist_is_INVALID_BODY_and_changes_nothing(string body, string says)
    {
        var app = shared.For(engines);
        var account = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(account, "mariadb");
        await ApiAssert.OkAsync(await account.Api.PutAsync(AllowlistOf(db.Id), Body("127.0.0.1")));

        var message = await ApiAssert.ErrorAsync(await account.Api.PutAsync(AllowlistOf(db.Id), Requests.Json(body)), 400, "INVALID_BODY");
        Assert.Contains(says, message, StringComparison.Ordinal);

        Assert.Equal("""{"cidrs":["127.0.0.1/32"]}""", (await ApiAssert.OkAsync(await account.Api.GetAsync(AllowlistOf(db.Id)))).GetRawText());
        await Tenant.MustRunAsync(db.ConnectionString, "SELECT 1");
        Assert.Equal(1, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.TargetId == db.Id && a.Action == "database.allowlist_changed")));
    }

    [Fact]
    public async Task PostgreSQL_takes_IPv6_ranges_and_another_tenant_cannot_see_or_change_the_list()
    {
        var app = shared.For(engines);
        var owner = await app.CreateAccountAsync();
        var other = await app.CreateAccountAsync();
        var db = await app.CreateDatabaseAsync(owner, "postgres");
        var set = await ApiAssert.OkAsync(await owner.Api.PutAsync(AllowlistOf(db.Id), Body("2001:db8::/32", "127.0.0.0/8")));
        Assert.Equal("""{"cidrs":["2001:db8::/32","127.0.0.0/8"]}""", set.GetRawText());
        await Tenant.MustRunAsync(db.ConnectionString, "SELECT 1");

        await ApiAssert.ErrorAsync(await other.Api.GetAsync(AllowlistOf(db.Id)), 404, "NOT_FOUND");
        await ApiAssert.ErrorAsync(await other.Api.PutAsync(AllowlistOf(db.Id), Body()), 404, "NOT_FOUND");
        await ApiAssert.ErrorAsync(await owner.Api.DeleteAsync(AllowlistOf(db.Id)), 405, "METHOD_NOT_ALLOWED");

        // Deleting the database takes its rules out of pg_hba.conf.
        Assert.Contains($"\"{db.DbUser}\"", await File.ReadAllTextAsync(engines.Engines.Postgres.HbaFile!));
        await WithAsync<DatabaseService>(app, s => s.DeleteAsync(owner.Id, db.Id, "my-app", Actor.Operator, CancellationToken.None));
        Assert.DoesNotContain($"\"{db.DbUser}\"", await File.ReadAllTextAsync(engines.Engines.Postgres.HbaFile!));
    }
}
