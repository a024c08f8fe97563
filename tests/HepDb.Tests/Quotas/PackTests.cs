using System.Text;
using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Quotas;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Quotas;

public sealed class PackTests(EngineServers engines)
{
    private const string Secret = "whsec_test_0123456789";

    [Fact]
    public void Effective_limits_are_the_tier_plus_every_unexpired_pack()
    {
        var now = new DateTime(2026, 6, 1, 0, 0, 0, DateTimeKind.Utc);
        var tier = new TiersOptions().Free;
        PackGrant Pack(int days) => new() { Id = "x", AccountId = "a", PackId = "p", Slots = 1, StorageMb = 500, Source = "operator", ExpiresAt = now.AddDays(days) };
        var limits = EffectiveLimits.Compute(tier, [Pack(10), Pack(20), Pack(-1)], now);
        Assert.Equal(3, limits.Databases);
        Assert.Equal((100 + 1000) * 1_048_576L, limits.StorageBytes);
        Assert.Equal(10, limits.ConnectionsPerUser);
        Assert.Equal(2, limits.ActiveKeys);
    }

    [Fact]
    public async Task A_pack_adds_a_slot_for_30_days_and_its_expiry_deletes_nothing()
    {
        var clock = new TestClock();
        await using var app = new HepDbApp(engines, clock: clock);
        var account = await app.CreateAccountAsync();
        await app.CreateDatabaseAsync(account, "mariadb", "first");
        await ApiAssert.ErrorAsync(await CreateAsync(account, "second"), 403, "DATABASE_LIMIT_REACHED");

        await using (var scope = app.Services.CreateAsyncScope())
        {
            var grant = await scope.ServiceProvider.GetRequiredService<PackService>().GrantAsync(account.Id, "db-pack", "operator", null, Actor.Operator, CancellationToken.None);
            Assert.True(grant.Ok);
            Assert.Equal(30, (grant.Value!.ExpiresAt - grant.Value.GrantedAt).TotalDays, 3);
            var limits = await scope.ServiceProvider.GetRequiredService<AccountService>().LimitsAsync(await FindAsync(scope, account.Id), CancellationToken.None);
            Assert.Equal(2, limits.Databases);
            Assert.Equal(600 * 1_048_576L, limits.StorageBytes);
        }
        Assert.Equal(201, (int)(await CreateAsync(account, "second")).StatusCode);

        clock.Advance(TimeSpan.FromDays(31));
        await using (var scope = app.Services.CreateAsyncScope())
            Assert.Equal(1, (await scope.ServiceProvider.GetRequiredService<AccountService>().LimitsAsync(await FindAsync(scope, account.Id), CancellationToken.None)).Databases);
        await ApiAssert.ErrorAsync(await CreateAsync(account, "third"), 403, "DATABASE_LIMIT_REACHED");
        Assert.Equal(2, await app.WithDbAsync(d => d.Databases.CountAsync(x => x.AccountId == account.Id)));
        var list = await ApiAssert.OkAsync(await account.Api.GetAsync("/api/v1/db/databases"));
        Assert.Equal(2, list.GetProperty("databases").GetArrayLength());
    }

    [Fact]
    public async Task The_payment_webhook_grants_once_per_event_and_refuses_bad_signatures_and_replays()
    {
        await using var app = new HepDbApp(engines, new() { ["Payments:WebhookSecret"] = Secret });
        var account = await app.CreateAccountAsync();
        var client = app.CreateClient();
        var body = $$"""{"id":"evt_{{Guid.NewGuid():N}}","type":"pack.purchased","account":"{{account.Id}}","pack":"db-pack"}""";
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Task<int> Grants() => app.WithDbAsync(d => d.PackGrants.CountAsync(p => p.AccountId == account.Id));

        Assert.Equal(401, (int)(await PostAsync(client, body, $"t={now},v1={new string('0', 64)}")).StatusCode);
        Assert.Equal(401, (int)(await PostAsync(client, body, Sign("wrong-secret", now, body))).StatusCode);
        Assert.Equal(401, (int)(await PostAsync(client, body, Sign(Secret, now - 3600, body))).StatusCode); // replay of an old delivery
        Assert.Equal(401, (int)(await PostAsync(client, body, null)).StatusCode);
        Assert.Equal(401, (int)(await PostAsync(client, body.Replace("db-pack", "db-pack "), Sign(Secret, now, body))).StatusCode); // body altered after signing
        Assert.Equal(0, await Grants());

        Assert.Equal(200, (int)(await PostAsync(client, body, Sign(Secret, now, body))).StatusCode);
        Assert.Equal(200, (int)(await PostAsync(client, body, Sign(Secret, now + 1, body))).StatusCode); // the same event again
        Assert.Equal(1, await Grants());
    }

    [Fact]
    public async Task The_webhook_is_off_without_a_secret()
    {
        await using var app = new HepDbApp(engines);
        var body = """{"id":"evt_1","type":"pack.purchased","account":"x","pack":"db-pack"}""";
        Assert.Equal(404, (int)(await PostAsync(app.CreateClient(), body, Sign("", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), body))).StatusCode);
    }

    private static string Sign(string secret, long t, string body) => $"t={t},v1={PaymentWebhook.Sign(secret, t, Encoding.UTF8.GetBytes(body))}";

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string body, string? signature)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/payments") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (signature is not null) request.Headers.Add(PaymentWebhook.SignatureHeader, signature);
        return client.SendAsync(request);
    }

    private static Task<HttpResponseMessage> CreateAsync(TestAccount account, string name) =>
        account.Api.PostAsync("/api/v1/db/databases", OverQuotaTests.Json($$"""{"name":"{{name}}","engine":"mariadb"}"""));

    private static Task<Account> FindAsync(AsyncServiceScope scope, string id) =>
        scope.ServiceProvider.GetRequiredService<HepDb.Data.HepDbContext>().Accounts.SingleAsync(a => a.Id == id);
}
