using System.Net;
using HepDb.Engines;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using static HepDb.Tests.Dashboard.DashboardKit;

namespace HepDb.Tests.Dashboard;

/// <summary>
/// A new user's whole path through the dashboard in a real Chromium, checked against the API, the real database
/// clients and the engine server itself: sign up, key, database, reveal, connect, rotate, disable key, the key limit,
/// delete. Saves a screenshot of every tab to TestResults/screenshots.
/// </summary>
public sealed class DashboardWalkthroughTests(EngineServers engines, Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task A_new_user_walks_from_sign_up_to_deleting_a_database()
    {
        await using var app = new HepDbApp(engines);
        var baseUrl = app.StartRealServer();
        var page = await browser.NewPageAsync(baseUrl);
        var email = $"walk-{Guid.NewGuid():N}@example.com";

        // Sign up: lands on an empty Databases tab on the Free plan.
        await SignUpAsync(page, email);
        Assert.Contains("0 of 1 used", await page.Locator("#usage-slots").TextContentAsync());
        Assert.Contains("of 100 MB used", await page.Locator("#usage-storage").TextContentAsync());
        await ShotAsync(page, "01-databases-empty");

        // A key, shown exactly once, that the API accepts.
        var key = await CreateKeyAsync(page, "ci");
        app.Remember(key);
        Assert.Matches("^hepgg_db_[A-Za-z0-9]{32}$", key);
        await ShotAsync(page, "02-api-keys-new-key");
        var api = app.ApiClient(key);
        Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/api/v1/db/databases")).StatusCode);
        await page.GotoAsync("/dashboard/database/api-keys");
        Assert.Equal(0, await page.Locator("#new-key-value").CountAsync());
        Assert.DoesNotContain(key, await page.ContentAsync());
        Assert.Contains("ci", await KeyRow(page, key).TextContentAsync());

        // Create: only enabled engines are offered (no MongoDB server here).
        await page.GotoAsync("/dashboard/database");
        var offered = await page.Locator("#create-engine option").EvaluateAllAsync<string[]>("os => os.map(o => o.value)");
        Assert.Equal(["mariadb", "postgres"], offered);
        Assert.Contains("MongoDB is not offered: it is not enabled on this deployment", await page.Locator(".engine-off").TextContentAsync());
        await CreateDatabaseAsync(page, "my-app", "mariadb");
        Assert.Contains("Created my-app", await NoticeAsync(page));
        var card = Card(page, "my-app");
        var dbName = (await card.Locator(".dbname").TextContentAsync())!.Trim();
        Assert.Matches("^um_[a-z0-9]{10}_1$", dbName);
        Assert.Contains("1 of 1 used", await page.Locator("#usage-slots").TextContentAsync());

        // The API sees the same database.
        Assert.Contains(dbName, await api.GetStringAsync("/api/v1/db/databases"));

        // Reveal after a fresh load, then connect with the real client using exactly what the page shows.
        await page.GotoAsync("/dashboard/database");
        card = Card(page, "my-app");
        Assert.Contains("••••", await card.Locator(".connection-string").TextContentAsync());
        var revealResponse = await page.RunAndWaitForResponseAsync(() => card.GetByRole(AriaRole.Button, new() { Name = "Reveal" }).ClickAsync(),
            r => r.Url.Contains("handler=Reveal", StringComparison.Ordinal));
        Assert.Contains("no-store", await revealResponse.HeaderValueAsync("cache-control")); // the page carries the password
        card = Card(page, "my-app");
        var password = (await card.Locator(".password").TextContentAsync())!.Trim();
        var connection = (await card.Locator(".connection-string").TextContentAsync())!.Trim();
        app.Remember(password);
        Assert.Equal($"mysql://{(await card.Locator(".dbuser").TextContentAsync())!.Trim()}:{password}@127.0.0.1:{engines.Engines.MariaDb.Port}/{dbName}?ssl-mode=REQUIRED", connection);
        var connected = await Clients.MariaDbAsync(connection, "CREATE TABLE notes (id INT PRIMARY KEY); INSERT INTO notes VALUES (1); SELECT COUNT(*) FROM notes;");
        Assert.True(connected.Ok, connected.ToString());
        Assert.Equal("1", connected.Output.Trim());
        await card.Locator("summary", new() { HasTextString = "Connect snippets" }).ClickAsync();
        Assert.Contains($"-u {(await card.Locator(".dbuser").TextContentAsync())!.Trim()} -p {dbName}", await card.Locator("pre").First.TextContentAsync());
        await ShotAsync(page, "03-databases-revealed");

        // Rotate with confirmation: the old password is refused, the new one works.
        await card.Locator("summary", new() { HasTextString = "Rotate password" }).ClickAsync();
        await card.GetByRole(AriaRole.Button, new() { Name = "Rotate password" }).ClickAsync();
        Assert.Contains("Password rotated", await NoticeAsync(page));
        card = Card(page, "my-app");
        var rotated = (await card.Locator(".connection-string").TextContentAsync())!.Trim();
        var newPassword = (await card.Locator(".password").TextContentAsync())!.Trim();
        app.Remember(newPassword);
        Assert.NotEqual(password, newPassword);
        var old = await Clients.MariaDbAsync(connection, "SELECT 1");
        Assert.False(old.Ok, "the old password still works after rotation");
        Assert.Contains("Access denied", old.Error);
        var fresh = await Clients.MariaDbAsync(rotated, "SELECT COUNT(*) FROM notes");
        Assert.True(fresh.Ok, fresh.ToString());

        // Disable the key: the API answers 401 KEY_DISABLED.
        await page.GotoAsync("/dashboard/database/api-keys");
        await KeyRow(page, key).GetByRole(AriaRole.Button, new() { Name = "Disable" }).ClickAsync();
        Assert.Contains("Disabled key \"ci\"", await NoticeAsync(page));
        Assert.Contains("disabled", await KeyRow(page, key).Locator(".key-state").TextContentAsync());
        await ApiAssert.ErrorAsync(await api.GetAsync("/api/v1/db/databases"), 401, "KEY_DISABLED");

        // Two more keys fill the Free plan's two active slots; re-enabling the first is refused and changes nothing.
        app.Remember(await CreateKeyAsync(page, "second"));
        app.Remember(await CreateKeyAsync(page, "third"));
        await page.GotoAsync("/dashboard/database/api-keys");
        await KeyRow(page, key).GetByRole(AriaRole.Button, new() { Name = "Enable" }).ClickAsync();
        Assert.Contains("Disable another key first", await ErrorAsync(page));
        Assert.Contains("disabled", await KeyRow(page, key).Locator(".key-state").TextContentAsync());
        await ApiAssert.ErrorAsync(await api.GetAsync("/api/v1/db/databases"), 401, "KEY_DISABLED");
        await ShotAsync(page, "04-api-keys-limit");

        // Delete with typed-name confirmation: a wrong name changes nothing; the right one frees the slot and drops the database.
        await page.GotoAsync("/dashboard/database");
        card = Card(page, "my-app");
        await card.Locator("summary", new() { HasTextString = "Delete" }).ClickAsync();
        await card.Locator("input[name=confirmation]").FillAsync("my-ap");
        await card.GetByRole(AriaRole.Button, new() { Name = "Delete database" }).ClickAsync();
        Assert.Contains("Type the database name \"my-app\" to confirm", await ErrorAsync(page));
        Assert.Contains(dbName, (await app.Engine(EngineKind.MariaDb).ListTenantObjectsAsync(CancellationToken.None)).Databases);
        card = Card(page, "my-app");
        await card.Locator("summary", new() { HasTextString = "Delete" }).ClickAsync();
        await card.Locator("input[name=confirmation]").FillAsync("my-app");
        await card.GetByRole(AriaRole.Button, new() { Name = "Delete database" }).ClickAsync();
        Assert.Contains("Deleted my-app", await NoticeAsync(page));
        Assert.Contains("0 of 1 used", await page.Locator("#usage-slots").TextContentAsync());
        Assert.DoesNotContain(dbName, (await app.Engine(EngineKind.MariaDb).ListTenantObjectsAsync(CancellationToken.None)).Databases);
        Assert.False((await Clients.MariaDbAsync(rotated, "SELECT 1")).Ok);

        // The freed slot is usable again, here for PostgreSQL.
        await CreateDatabaseAsync(page, "second-app", "postgres");
        Assert.Contains("Created second-app", await NoticeAsync(page));
        var pg = (await Card(page, "second-app").Locator(".connection-string").TextContentAsync())!.Trim();
        app.Remember(new Uri(pg).UserInfo.Split(':')[1]);
        var pgConnected = await Clients.PsqlAsync(pg, "SELECT current_user");
        Assert.True(pgConnected.Ok, pgConnected.ToString());
        await ShotAsync(page, "05-databases-postgres");

        // Top Up and Activity tabs.
        await page.GotoAsync("/dashboard/database/top-up");
        Assert.Contains("Free", await page.Locator("#plan").TextContentAsync());
        Assert.Contains("1 of 1 used", await page.Locator("#effective-limits").TextContentAsync());
        Assert.Contains("+1 database slot(s), +500 MB for 30 days", await page.Locator("#catalogue").TextContentAsync());
        await ShotAsync(page, "06-top-up");
        await page.GotoAsync("/dashboard/database/activity");
        var activity = await page.Locator("table.audit").TextContentAsync();
        foreach (var action in new[] { "key.minted", "key.disabled", "database.created", "database.password_revealed", "database.password_rotated", "database.deleted" })
            Assert.Contains(action, activity);
        await ShotAsync(page, "07-activity");

        // No secret the dashboard showed is in HepDb's log.
        var log = app.Log.Text;
        foreach (var secret in app.SecretsSeen.Append(Password))
            Assert.False(log.Contains(secret, StringComparison.Ordinal), $"a secret starting {secret[..4]} is in the log");
    }

    [Fact]
    public async Task An_over_quota_account_sees_why_and_what_to_do()
    {
        await using var app = new HepDbApp(engines, new() { ["Tiers:Premium:StorageMb"] = "1" });
        var baseUrl = app.StartRealServer();
        var (accountId, email) = await DashboardAccounts.CreateAsync(app, HepDb.Accounts.Tier.Premium);
        var key = await app.MintKeyAsync(accountId);
        var database = await app.CreateDatabaseAsync(new TestAccount(accountId, key, app.ApiClient(key)), "mariadb", "big-app");
        var filled = await Clients.MariaDbAsync(database.ConnectionString, "CREATE TABLE big (id INT PRIMARY KEY AUTO_INCREMENT, x TEXT); " +
            "INSERT INTO big (x) SELECT REPEAT('x', 1000) FROM seq_1_to_3000; ANALYZE TABLE big;");
        Assert.True(filled.Ok, filled.ToString());
        await HepDb.Tests.Quotas.OverQuotaTests.RunWatcherAsync(app);

        var page = await browser.NewPageAsync(baseUrl);
        await SignInAsync(page, email);
        await page.WaitForURLAsync("**/dashboard/database");
        var card = Card(page, "big-app");
        Assert.Contains("over quota", await card.Locator(".status").TextContentAsync());
        Assert.Contains("writes are blocked", await card.TextContentAsync());
        Assert.Contains("of 1 MB used", await page.Locator("#usage-storage").TextContentAsync());
        Assert.Contains("full", await page.Locator("#usage-storage .bar").GetAttributeAsync("class"));
        Assert.DoesNotContain("not measured", await card.TextContentAsync());
        await ShotAsync(page, "09-databases-over-quota");

        // A second database is refused with the API's STORAGE_QUOTA_EXCEEDED message, and nothing is created.
        await CreateDatabaseAsync(page, "another", "postgres");
        Assert.Matches(@"^Your account uses [0-9.]+ MB of its 1 MB storage\. Free space or add a pack in Top Up\.$", await ErrorAsync(page));
        Assert.Equal(1, await page.Locator("article.database").CountAsync());
        Assert.Equal(1, await app.WithDbAsync(d => d.Databases.CountAsync(x => x.AccountId == accountId)));
    }
}
