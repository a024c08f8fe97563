extern alias cli;

using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using HepDb.Api;
using HepDb.ApiKeys;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using AdminTool = cli::HepDb.Cli.AdminTool;

using static HepDb.Tests.Operator.OperatorTool;

namespace HepDb.Tests.Operator;

/// <summary><c>hepdb-admin</c> against a live server's store. The commands run through the tool's own entry point
/// in-process (<see cref="RunAsync(HepDbApp, string[])"/>), with the settings a process would read from its environment;
/// what only a process shows (exit codes, stdout alone, the stack trace of a crash) is checked by running it as one, the
/// way operators and scripts run it (<see cref="RunProcessAsync"/>).</summary>
public sealed class OperatorToolTests(EngineServers engines)
{
    [Fact]
    public async Task Scripts_can_create_an_account_mint_a_key_and_use_it()
    {
        await using var app = new HepDbApp(engines);
        _ = app.Services; // the server is up and has migrated its store
        var email = $"{Guid.NewGuid():N}@ops.test";

        var created = await RunProcessAsync(app, [], "account", "create", "--email", email, "--tier", "premium");
        Assert.Equal(0, created.ExitCode);
        var accountId = created.Output.Trim();
        Assert.Matches("^[0-9A-HJKMNP-TV-Z]{26}$", accountId);

        var minted = await RunProcessAsync(app, [], "key", "mint", "--account", email, "--label", "ci");
        Assert.Equal(0, minted.ExitCode);
        var key = minted.Output.Trim();
        app.Remember(key);
        Assert.Matches(new Regex("^hepgg_db_[A-Za-z0-9]{32}$"), key); // the key alone on stdout
        await ApiAssert.OkAsync(await app.ApiClient(key).GetAsync("/api/v1/db/databases"));

        var suspended = await RunAsync(app, "account", "suspend", "--account", accountId, "--reason", "ops test");
        Assert.Equal(0, suspended.ExitCode);
        // The tool is another replica of the store: the server sees its changes within 0.5 s (docs/api.md, fast path).
        await ApiAnswersWithinASecondAsync(app.ApiClient(key), 401, "KEY_DISABLED");
        var blank = await RunAsync(app, "account", "unsuspend", "--account", accountId, "--reason", " ");
        Assert.Equal(1, blank.ExitCode);
        Assert.Contains("Lifting a suspension needs a reason.", blank.Error);
        await ApiAssert.ErrorAsync(await app.ApiClient(key).GetAsync("/api/v1/db/databases"), 401, "KEY_DISABLED"); // nothing changed
        Assert.NotEqual(0, (await RunAsync(app, "account", "unsuspend", "--account", accountId)).ExitCode); // usage: --reason is required
        Assert.Equal(0, (await RunAsync(app, "account", "unsuspend", "--account", accountId, "--reason", "ops test over")).ExitCode);
        Assert.Equal("ops test over", await app.WithDbAsync(d => d.AuditLog.Where(a => a.AccountId == accountId && a.Action == "account.unsuspended").Select(a => a.Detail).SingleAsync()));
        await ApiAnswersWithinASecondAsync(app.ApiClient(key), 200, null);

        Assert.Equal(0, (await RunAsync(app, "account", "set-tier", "--account", accountId, "--tier", "free")).ExitCode);
        var grant = await RunAsync(app, "pack", "grant", "--account", accountId);
        Assert.Equal(0, grant.ExitCode);
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", grant.Output.Trim());
        Assert.Equal(HepDb.Accounts.Tier.Free, await app.WithDbAsync(d => d.Accounts.Where(a => a.Id == accountId).Select(a => a.Tier).SingleAsync()));
        Assert.Equal(1, await app.WithDbAsync(d => d.PackGrants.CountAsync(p => p.AccountId == accountId)));
    }

    [Fact]
    public async Task The_scripts_wrapper_reads_the_same_data_folder_as_the_server()
    {
        // scripts/hepdb-admin is what the README's operators run beside scripts/run.sh: run from anywhere, it must find
        // the server's store (HEPDB_DATA, as run.sh reads it), not make one of its own in the working directory.
        var repo = Path.GetDirectoryName(Path.GetDirectoryName(Browser.ScreenshotDir))!;
        if (!File.Exists(Path.Combine(repo, "src/HepDb.Cli/bin/Release/net10.0/hepdb-admin.dll")))
            Assert.Skip("scripts/hepdb-admin runs the Release build of the tool: run scripts/test.sh (or scripts/setup.sh) first.");
        var strayStore = Path.Combine(repo, "src/HepDb/data");
        var strayBefore = Directory.Exists(strayStore);
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync();
        var listed = await Clients.RunAsync(Path.Combine(repo, "scripts/hepdb-admin"), ["account", "list", "--search", account.Id],
            new() { ["HEPDB_DATA"] = app.DataDir });
        Assert.True(listed.ExitCode == 0, listed.ToString());
        Assert.StartsWith(account.Id + "\t", listed.Output, StringComparison.Ordinal);
        Assert.True(strayBefore || !Directory.Exists(strayStore), "the tool made a store of its own in src/HepDb/data");
    }

    [Fact]
    public async Task Watcher_run_runs_a_pass_now_while_a_running_server_holds_the_lease()
    {
        await using var app = new HepDbApp(engines);
        var account = await app.CreateAccountAsync();
        var database = await app.CreateDatabaseAsync(account, "mariadb");
        // A running server keeps the lease between its passes (for twice its interval): this one's first pass may hold
        // it already, else another replica takes it here.
        await app.WithDbAsync(d => HepDb.Data.Leases.TryAcquireAsync(d, "quota-watcher", "another-replica/1", TimeSpan.FromHours(1), TimeProvider.System, CancellationToken.None));
        var holder = await app.WithDbAsync(d => d.Leases.Where(l => l.Name == "quota-watcher" && l.ExpiresAt > DateTime.UtcNow).Select(l => l.Holder).SingleAsync());

        var run = await RunAsync(app, "watcher", "run");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches(@"mariadb/default: \d+ dbs, \d+ queries", run.Output);
        Assert.Contains("accounts,", run.Output);
        Assert.NotNull(await app.WithDbAsync(d => d.Databases.Where(x => x.Id == database.Id).Select(x => x.SizeRefreshedAt).SingleAsync())); // it measured
        // The server's lease is left alone: its periodic passes keep their holder.
        Assert.Equal(holder, await app.WithDbAsync(d => d.Leases.Where(l => l.Name == "quota-watcher").Select(l => l.Holder).SingleAsync()));
    }

    [Fact]
    public async Task Refusals_exit_1_with_a_message_on_stderr_and_change_nothing()
    {
        await using var app = new HepDbApp(engines);
        _ = app.Services;
        var unknown = await RunProcessAsync(app, [], "key", "mint", "--account", "nobody@nowhere.test");
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
        Assert.Equal("", badTier.Output);
        Assert.Equal($"hepdb-admin: {ApiErrors.InvalidTier("gold").Message}", badTier.Error.Trim());
        Assert.Equal(HepDb.Accounts.Tier.Free, await app.WithDbAsync(d => d.Accounts.Where(a => a.Email == email).Select(a => a.Tier).SingleAsync()));
        Assert.Equal(1, await app.WithDbAsync(d => d.Accounts.CountAsync(a => a.Email == email)));

        // The service's own checks and messages: the tool does not check again.
        var badEmail = await RunAsync(app, "account", "create", "--email", "not-an-email");
        Assert.Equal(1, badEmail.ExitCode);
        Assert.Equal($"hepdb-admin: {ApiErrors.InvalidEmail.Message}", badEmail.Error.Trim());
        var blankReason = await RunAsync(app, "account", "suspend", "--account", email, "--reason", "  ");
        Assert.Equal(1, blankReason.ExitCode);
        Assert.Equal($"hepdb-admin: {ApiErrors.SuspensionNeedsReason.Message}", blankReason.Error.Trim());
        Assert.Null(await app.WithDbAsync(d => d.Accounts.Where(a => a.Email == email).Select(a => a.SuspendedAt).SingleAsync()));

        var usage = await RunProcessAsync(app, [], "account", "create"); // --email is required
        Assert.Equal(64, usage.ExitCode);
        Assert.Contains("--email", usage.Error);
    }

    [Fact]
    public async Task An_unexpected_error_exits_70_with_its_stack_trace_and_no_secret()
    {
        await using var app = new HepDbApp(engines);
        var crashed = await RunProcessAsync(app, new Dictionary<string, string>
        {
            // A metadata store nobody listens on: not a refusal, so no catalog message but the exception itself.
            ["Metadata__Provider"] = "postgres",
            ["Metadata__ConnectionString"] = "Host=127.0.0.1;Port=1;Username=ops;Password=not-to-be-shown;Database=hepdb;Timeout=3",
        }, "account", "list");
        Assert.Equal(70, crashed.ExitCode);
        Assert.StartsWith("hepdb-admin: unexpected error:", crashed.Error, StringComparison.Ordinal);
        Assert.Contains("   at ", crashed.Error, StringComparison.Ordinal); // the stack trace
        Assert.DoesNotContain("not-to-be-shown", crashed.Error, StringComparison.Ordinal);
        Assert.Equal("", crashed.Output);
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

    [Fact]
    public async Task Scripts_can_list_accounts_set_dashboard_passwords_switch_engines_and_read_the_audit_log()
    {
        await using var app = new HepDbApp(engines);
        _ = app.Services;
        var email = $"{Guid.NewGuid():N}@ops.test";
        var accountId = (await RunAsync(app, "account", "create", "--email", email)).Output.Trim();

        var listed = await RunAsync(app, "account", "list", "--search", email[..12]);
        Assert.Equal(0, listed.ExitCode);
        Assert.Equal($"{accountId}\t{email}\tfree\tactive\t0\t0", listed.Output.Trim());

        // A generated dashboard password, printed alone, that Identity accepts.
        var password = await RunAsync(app, "user", "set-password", "--account", email, "--generate");
        Assert.Equal(0, password.ExitCode);
        app.Remember(password.Output.Trim());
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<Microsoft.AspNetCore.Identity.UserManager<HepDb.Web.Users.DashboardUser>>();
            var user = await users.FindByEmailAsync(email);
            Assert.NotNull(user);
            Assert.True(await users.CheckPasswordAsync(user, password.Output.Trim()));
            Assert.DoesNotContain(password.Output.Trim(), user.PasswordHash!, StringComparison.Ordinal);
        }

        // Switching PostgreSQL off reaches the running server (within its 5 s refresh); MariaDB cannot be switched off.
        var key = await app.MintKeyAsync(accountId);
        var api = app.ApiClient(key);
        Assert.Equal("postgres disabled", (await RunAsync(app, "engine", "disable", "postgres")).Output.Trim());
        Assert.Contains("postgres\tdisabled\tup", (await RunAsync(app, "engine", "list")).Output);
        var registry = app.Services.GetRequiredService<HepDb.Engines.EngineRegistry>();
        await WaitUntilAsync(() => !registry.IsEnabled(HepDb.Engines.EngineKind.Postgres));
        await ApiAssert.ErrorAsync(await api.PostAsJsonAsync("/api/v1/db/databases", new { name = "pg", engine = "postgres" }), 400, "ENGINE_DISABLED");
        var mariadb = await RunAsync(app, "engine", "disable", "mariadb");
        Assert.Equal(1, mariadb.ExitCode);
        Assert.Contains("always available", mariadb.Error);
        Assert.Equal(0, (await RunAsync(app, "engine", "enable", "postgres")).ExitCode);
        await WaitUntilAsync(() => registry.IsEnabled(HepDb.Engines.EngineKind.Postgres));
        var created = await api.PostAsJsonAsync("/api/v1/db/databases", new { name = "pg", engine = "postgres" });
        Assert.Equal(System.Net.HttpStatusCode.Created, created.StatusCode);
        app.Remember(CreatedDatabase.Parse(await created.Content.ReadAsStringAsync()).Password);

        var audit = await RunAsync(app, "audit", "list", "--account", email);
        Assert.Equal(0, audit.ExitCode);
        var actions = audit.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[3]).ToList();
        Assert.Equal(["database.created", "key.minted", "user.password_set", "account.created"], actions);
        var engineAudit = await RunAsync(app, "audit", "list", "--action", "engine.", "--limit", "2");
        Assert.Equal(["engine.enabled", "engine.disabled"], engineAudit.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[3]));
    }

    [Fact]
    public async Task Operator_rights_are_granted_revoked_and_listed_by_user_audited_and_quickstart_grants_one()
    {
        await using var app = new HepDbApp(engines);
        _ = app.Services;
        var email = $"{Guid.NewGuid():N}@ops.test";
        var accountId = (await RunAsync(app, "account", "create", "--email", email, "--tier", "admin")).Output.Trim();

        var noUser = await RunAsync(app, "operator", "grant", "--email", email);
        Assert.Equal(1, noUser.ExitCode);
        Assert.Contains($"No dashboard user '{email}'.", noUser.Error);
        app.Remember((await RunAsync(app, "user", "set-password", "--account", email, "--generate")).Output.Trim());
        Assert.Equal("", (await RunAsync(app, "operator", "list")).Output); // the admin tier alone is no right

        var granted = await RunAsync(app, "operator", "grant", "--email", email.ToUpperInvariant());
        Assert.Equal((0, email), (granted.ExitCode, granted.Output.Trim()));
        Assert.Equal(0, (await RunAsync(app, "operator", "grant", "--email", email)).ExitCode); // again: nothing changes
        var listed = await RunAsync(app, "operator", "list");
        Assert.Equal((0, $"{email}\t{accountId}\tadmin"), (listed.ExitCode, listed.Output.Trim()));

        var revoked = await RunAsync(app, "operator", "revoke", "--email", email);
        Assert.Equal((0, email), (revoked.ExitCode, revoked.Output.Trim()));
        Assert.Equal("", (await RunAsync(app, "operator", "list")).Output);
        Assert.Equal(1, (await RunAsync(app, "operator", "revoke", "--email", "nobody@ops.test")).ExitCode);

        var audit = await RunAsync(app, "audit", "list", "--account", email, "--action", "operator.");
        Assert.Equal(["operator.revoked", "operator.granted"], audit.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t')[3]));

        // quickstart's user is an operator (scripts/run.sh says so), and stays one when quickstart runs again.
        var quick = $"{Guid.NewGuid():N}@quickstart.test";
        foreach (var _ in new[] { 1, 2 })
        {
            var started = await RunAsync(app, "quickstart", "--email", quick);
            Assert.True(started.ExitCode == 0, started.ToString());
            foreach (var secret in started.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)) app.Remember(secret.Trim());
        }
        Assert.StartsWith($"{quick}\t", (await RunAsync(app, "operator", "list")).Output, StringComparison.Ordinal);
    }

    private static async Task ApiAnswersWithinASecondAsync(HttpClient api, int status, string? code)
    {
        var since = Stopwatch.StartNew();
        HttpResponseMessage answer;
        // Slowly enough that refusals met on the way stay far below the address's failed-authentication budget (20).
        while ((int)(answer = await api.GetAsync("/api/v1/db/databases")).StatusCode != status && since.Elapsed < TimeSpan.FromSeconds(1))
            await Task.Delay(150);
        if (code is null) await ApiAssert.OkAsync(answer, status);
        else await ApiAssert.ErrorAsync(answer, status, code);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var deadline = DateTime.UtcNow.AddSeconds(20); !condition(); await Task.Delay(100))
            Assert.True(DateTime.UtcNow < deadline, "the running server did not follow the switch within 20 s");
    }


    /// <summary>Runs <c>hepdb-admin</c> as a process, its settings in <c>HepDb__*</c>-style environment variables.</summary>
    private static async Task<ClientResult> RunProcessAsync(HepDbApp app, Dictionary<string, string> extraEnv, params string[] args)
    {
        var env = OperatorTool.Environment(app);
        foreach (var (k, v) in extraEnv) env[k] = v;
        return await Clients.RunAsync("dotnet", [Path.Combine(AppContext.BaseDirectory, "hepdb-admin.dll"), .. args], env);
    }
}
