using System.Diagnostics;
using System.Text.RegularExpressions;
using HepDb.ApiKeys;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace HepDb.Tests.Operator;

/// <summary><c>hepdb-admin</c> run as a process, the way operators and scripts run it, against a live server's store.</summary>
public sealed class OperatorToolTests(EngineServers engines)
{
    [Fact]
    public async Task Scripts_can_create_an_account_mint_a_key_and_use_it()
    {
        await using var app = new HepDbApp(engines);
        _ = app.Services; // the server is up and has migrated its store
        var email = $"{Guid.NewGuid():N}@ops.test";

        var created = await RunAsync(app, "account", "create", "--email", email, "--tier", "premium");
        Assert.Equal(0, created.ExitCode);
        var accountId = created.Output.Trim();
        Assert.Matches("^[0-9A-HJKMNP-TV-Z]{26}$", accountId);

        var minted = await RunAsync(app, "key", "mint", "--account", email, "--label", "ci");
        Assert.Equal(0, minted.ExitCode);
        var key = minted.Output.Trim();
        app.Remember(key);
        Assert.Matches(new Regex("^hepgg_db_[A-Za-z0-9]{32}$"), key); // the key alone on stdout
        await ApiAssert.OkAsync(await app.ApiClient(key).GetAsync("/api/v1/db/databases"));

        var suspended = await RunAsync(app, "account", "suspend", "--account", accountId, "--reason", "ops test");
        Assert.Equal(0, suspended.ExitCode);
        await ApiAssert.ErrorAsync(await app.ApiClient(key).GetAsync("/api/v1/db/databases"), 401, "KEY_DISABLED");
        Assert.Equal(0, (await RunAsync(app, "account", "unsuspend", "--account", accountId)).ExitCode);
        await ApiAssert.OkAsync(await app.ApiClient(key).GetAsync("/api/v1/db/databases"));

        Assert.Equal(0, (await RunAsync(app, "account", "set-tier", "--account", accountId, "--tier", "free")).ExitCode);
        var grant = await RunAsync(app, "pack", "grant", "--account", accountId);
        Assert.Equal(0, grant.ExitCode);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", grant.Output.Trim());
        Assert.Equal("free", await app.WithDbAsync(d => d.Accounts.Where(a => a.Id == accountId).Select(a => a.Tier).SingleAsync()));
        Assert.Equal(1, await app.WithDbAsync(d => d.PackGrants.CountAsync(p => p.AccountId == accountId)));
    }

    [Fact]
    public async Task Refusals_exit_1_with_a_message_on_stderr_and_change_nothing()
    {
        await using var app = new HepDbApp(engines);
        _ = app.Services;
        var unknown = await RunAsync(app, "key", "mint", "--account", "nobody@nowhere.test");
        Assert.Equal(1, unknown.ExitCode);
        Assert.Equal("", unknown.Output);
        Assert.Contains("No account", unknown.Error);

        var email = $"{Guid.NewGuid():N}@ops.test";
        Assert.Equal(0, (await RunAsync(app, "account", "create", "--email", email)).ExitCode);
        var duplicate = await RunAsync(app, "account", "create", "--email", email);
        Assert.Equal(1, duplicate.ExitCode);
        Assert.Contains("already exists", duplicate.Error);
        var badTier = await RunAsync(app, "account", "set-tier", "--account", email, "--tier", "gold");
        Assert.Equal(1, badTier.ExitCode);
        Assert.Equal(1, await app.WithDbAsync(d => d.Accounts.CountAsync(a => a.Email == email)));

        Assert.NotEqual(0, (await RunAsync(app, "account", "create")).ExitCode); // usage error: --email is required
    }

    [Fact]
    public async Task Key_use_is_recorded_with_time_and_ip_off_the_request_path()
    {
        await using var app = new HepDbApp(engines);
        app.StartRealServer(); // a real socket, so the request has a client IP
        var account = await app.CreateAccountAsync();
        await ApiAssert.OkAsync(await account.Api.GetAsync("/api/v1/db/databases"));
        await app.Services.GetRequiredService<KeyUsageRecorder>().FlushAsync(CancellationToken.None);
        var key = await app.WithDbAsync(d => d.ApiKeys.SingleAsync(k => k.AccountId == account.Id));
        Assert.NotNull(key.LastUsedAt);
        Assert.True(DateTime.UtcNow - key.LastUsedAt < TimeSpan.FromMinutes(1));
        Assert.Equal("127.0.0.1", key.LastUsedIp);
    }

    private static async Task<ClientResult> RunAsync(HepDbApp app, params string[] args)
    {
        var env = new Dictionary<string, string>
        {
            ["HepDb__DataDir"] = app.DataDir,
            ["Logging__LogLevel__Default"] = "Warning",
        };
        foreach (var (k, v) in app.Engines.Settings()) env[k.Replace(":", "__", StringComparison.Ordinal)] = v!;
        return await Clients.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "hepdb-admin.dll"), .. args], env);
    }
}
