using System.Net.Http.Json;
using HepDb.ApiKeys;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Api;

/// <summary>Behind a reverse proxy: X-Forwarded-For names the client only when it comes from a configured proxy; from
/// anyone else it is ignored, so a forged header moves no one out of their rate-limit bucket. Real sockets throughout,
/// so the peer is really 127.0.0.1.</summary>
public sealed class ForwardedHeaderTests(EngineServers engines)
{
    private const string Databases = "/api/v1/db/databases";
    private static readonly string BadKey = "hepgg_db_" + new string('A', 32);

    [Fact]
    public async Task With_no_proxy_configured_a_forged_X_Forwarded_For_does_not_leave_the_failed_auth_bucket()
    {
        await using var app = new HepDbApp(engines, new() { ["RateLimits:FailedAuthPerIpPerMinute"] = "3" });
        app.StartRealServer();
        var guesser = app.ApiClient(BadKey);
        for (var i = 1; i <= 3; i++) await ApiAssert.ErrorAsync(await GetAsync(guesser, $"198.51.100.{i}"), 401, "BAD_KEY");

        // Loopback is not trusted either: every request counted against 127.0.0.1, whatever it claimed.
        await ApiAssert.ErrorAsync(await GetAsync(guesser, "198.51.100.99"), 429, "RATE_LIMITED");
        await ApiAssert.ErrorAsync(await GetAsync(guesser, null), 429, "RATE_LIMITED");
    }

    [Fact]
    public async Task A_known_proxy_names_the_client_for_rate_limits_key_usage_and_the_audit_log()
    {
        await using var app = new HepDbApp(engines, new()
        {
            ["RateLimits:FailedAuthPerIpPerMinute"] = "3",
            ["Network:KnownProxies:0"] = "127.0.0.1",
        });
        app.StartRealServer();
        var guesser = app.ApiClient(BadKey);
        for (var i = 0; i < 3; i++) await ApiAssert.ErrorAsync(await GetAsync(guesser, "198.51.100.1"), 401, "BAD_KEY");
        await ApiAssert.ErrorAsync(await GetAsync(guesser, "198.51.100.1"), 429, "RATE_LIMITED"); // that client's bucket is used up
        await ApiAssert.ErrorAsync(await GetAsync(guesser, "198.51.100.2"), 401, "BAD_KEY"); // another client has its own
        await ApiAssert.ErrorAsync(await GetAsync(guesser, null), 401, "BAD_KEY"); // and so has the proxy itself

        // Only the entry the proxy added counts (ForwardLimit 1): what the client sent ahead of it is its own claim.
        var account = await app.CreateAccountAsync();
        var client = app.ApiClient(account.Key);
        using (var list = new HttpRequestMessage(HttpMethod.Get, Databases))
        {
            list.Headers.TryAddWithoutValidation("X-Forwarded-For", "192.0.2.66, 203.0.113.7");
            await ApiAssert.OkAsync(await client.SendAsync(list));
        }
        await app.Services.GetRequiredService<KeyUsageRecorder>().FlushAsync(CancellationToken.None);
        var key = await app.WithDbAsync(d => d.ApiKeys.SingleAsync(k => k.AccountId == account.Id));
        Assert.Equal("203.0.113.7", key.LastUsedIp);

        using (var create = new HttpRequestMessage(HttpMethod.Post, Databases) { Content = JsonContent.Create(new { name = "behind-proxy", engine = "mariadb" }) })
        {
            create.Headers.TryAddWithoutValidation("X-Forwarded-For", "203.0.113.7");
            var created = CreatedDatabase.Parse(await (await client.SendAsync(create)).EnsureSuccessStatusCode().Content.ReadAsStringAsync());
            app.Remember(created.Password);
        }
        var entry = await app.WithDbAsync(d => d.AuditLog.SingleAsync(a => a.AccountId == account.Id && a.Action == "database.created"));
        Assert.Equal("203.0.113.7", entry.Ip);
    }

    [Theory]
    [InlineData("Network:KnownProxies:0", "not-an-ip", "Network:KnownProxies: 'not-an-ip' is not an IP address")]
    [InlineData("Network:KnownNetworks:0", "10.0.0.1/8", "Network:KnownNetworks: '10.0.0.1/8' is not a network in CIDR notation")]
    [InlineData("Network:KnownNetworks:0", "10.0.0.0", "Network:KnownNetworks: '10.0.0.0' is not a network in CIDR notation")]
    public async Task A_proxy_setting_that_does_not_parse_stops_the_start_and_names_the_entry(string setting, string value, string message)
    {
        await using var app = new HepDbApp(engines, new() { [setting] = value });
        var refused = Record.Exception(() => app.Services);
        Assert.NotNull(refused);
        Assert.Contains(message, refused.ToString(), StringComparison.Ordinal);
    }

    private static Task<HttpResponseMessage> GetAsync(HttpClient client, string? forwardedFor)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, Databases);
        if (forwardedFor is not null) request.Headers.TryAddWithoutValidation("X-Forwarded-For", forwardedFor);
        return client.SendAsync(request);
    }
}
