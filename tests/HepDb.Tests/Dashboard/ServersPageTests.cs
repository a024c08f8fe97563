using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Engines;
using HepDb.Fleet;
using HepDb.Quotas;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static HepDb.Tests.Dashboard.DashboardKit;

namespace HepDb.Tests.Dashboard;

/// <summary>The admin area's Servers page in a real Chromium, with a second real MariaDB server added to the fleet:
/// each server's health, addresses and load against its capacity (bars with a text equivalent), Drain and Undrain
/// checked in the registry and in placement, and the Usage page's series per server. Screenshots land in
/// TestResults/screenshots/ (servers-*.png, usage-fleet-servers.png).</summary>
public sealed class ServersPageTests(EngineServers engines, SecondServers second, Browser browser) : IClassFixture<Browser>
{
    private const string Annex = "mariadb/annex";
    private const string Default = "mariadb/default";

    [Fact]
    public async Task The_servers_page_shows_each_server_with_its_capacity_and_drains_and_undrains_one()
    {
        var clock = new TestClock();
        await using var app = new HepDbApp(engines, new()
        {
            ["Engines:MariaDb:MaxDatabases"] = "100", ["Tiers:Free:Databases"] = "6",
        }, clock: clock);
        var baseUrl = app.StartRealServer();
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var added = await scope.ServiceProvider.GetRequiredService<FleetService>()
                .AddAsync("mariadb", "annex", second.Settings("mariadb", 4, 256L * 1024 * 1024), Actor.Operator, CancellationToken.None);
            Assert.True(added.Ok, added.Problem?.Message);
        }

        // Three databases four days apart, each holding a little data, with a quota-watcher pass after each (and one
        // more): the passes measure the databases and sample the fleet per server. Placement spreads the databases over
        // both servers by headroom.
        var account = await app.CreateAccountAsync();
        var watcher = app.Services.GetRequiredService<QuotaWatcher>();
        foreach (var name in new[] { "alpha", "beta", "gamma", null })
        {
            clock.Advance(TimeSpan.FromDays(4));
            if (name is not null)
            {
                var created = await app.CreateDatabaseAsync(account, "mariadb", name);
                await Tenant.MustRunAsync(created.ConnectionString,
                    "CREATE TABLE notes (id INT PRIMARY KEY AUTO_INCREMENT, body TEXT) ENGINE=InnoDB; "
                    + "INSERT INTO notes (body) SELECT REPEAT(MD5(RAND()), 30) FROM seq_1_to_300; ANALYZE TABLE notes;");
            }
            Assert.NotNull(await watcher.RunOnceAsync(CancellationToken.None));
        }
        var placed = await ServersOfAsync(app, account.Id);
        Assert.Equal(3, placed.Count);
        var onAnnex = placed.Count(p => p == Annex);
        var onDefault = placed.Count(p => p == Default);
        Assert.True(onAnnex >= 1 && onAnnex + onDefault == 3, string.Join(", ", placed));

        var (_, operatorEmail) = await DashboardAccounts.CreateOperatorAsync(app);
        var page = await SignedInPageAsync(browser, baseUrl, operatorEmail);
        await page.GotoAsync("/admin");
        await page.Locator("nav[aria-label=Admin] a[href='/admin/servers']").ClickAsync();
        // Waits for the page's content rather than its load event: the page probes every server before it answers.
        await page.Locator("#drain-explained").WaitForAsync(new() { Timeout = 60_000 });
        Assert.EndsWith("/admin/servers", page.Url);
        Assert.Contains("hepdb-admin server evacuate", await page.Locator("#drain-explained").TextContentAsync());

        var annex = Server(page, Annex);
        var fallback = Server(page, Default);
        Assert.Equal("MariaDB · annex", await Text(annex.Locator("h2")));
        Assert.Equal("MariaDB · default", await Text(fallback.Locator("h2")));
        foreach (var (card, count, max) in new[] { (annex, onAnnex, 4), (fallback, onDefault, 100) })
        {
            Assert.Equal("active", await Text(card.Locator(".badge.state")));
            Assert.Equal("up", await Text(card.Locator(".badge.health")));
            Assert.StartsWith("up, ", await Text(card.Locator(".health-text")));
            Assert.Matches(@"^\d+ ms$", await Text(card.Locator(".latency")));
            Assert.Equal($"{count} of {max} databases ({count * 100 / max}%)", await Text(card.Locator(".capacity.databases .capacity-text")));
            var bar = card.Locator(".capacity.databases [role=progressbar]");
            Assert.Equal(count.ToString(), await bar.GetAttributeAsync("aria-valuenow"));
            Assert.Equal(max.ToString(), await bar.GetAttributeAsync("aria-valuemax"));
        }
        Assert.Equal($"127.0.0.1:{second.Engines.MariaDb.Port}", await Text(annex.Locator(".admin-endpoint")));
        Assert.Equal($"127.0.0.1:{second.Engines.MariaDb.Port}", await Text(annex.Locator(".public-endpoint")));
        Assert.EndsWith($":{engines.Engines.MariaDb.Port}", await Text(fallback.Locator(".admin-endpoint")));
        // The measured bytes: against 256 MB on the annex, without a limit on the default server.
        Assert.Matches(@"^[\d.]+ (B|KB|MB) of 256 MB \(\d+%\)$", await Text(annex.Locator(".capacity.bytes .capacity-text")));
        Assert.Matches(@"^[1-9][\d.]* (KB|MB), no limit$", await Text(fallback.Locator(".capacity.bytes .capacity-text")));
        Assert.Equal(0, await fallback.Locator(".capacity.bytes [role=progressbar]").CountAsync());
        Assert.Equal(0, await page.Locator("main script").CountAsync());
        var problems = new List<string>();
        await AccessibilityTests.CheckAsync(page, "/admin/servers", problems);
        await ShotAsync(page, "servers-01-fleet");

        // Drain: the annex takes no new database (the next one goes to the default server), as the registry says.
        await annex.GetByRole(AriaRole.Button, new() { Name = "Drain mariadb/annex" }).ClickAsync();
        await page.Locator(".banner.notice").WaitForAsync();
        Assert.Contains($"{Annex} is draining", await NoticeAsync(page));
        Assert.Equal("draining", await Text(Server(page, Annex).Locator(".badge.state")));
        Assert.Equal("active", await Text(Server(page, Default).Locator(".badge.state")));
        Assert.Equal(ServerState.Draining, app.Services.GetRequiredService<EngineRegistry>().Server(Annex)!.Row.State);
        Assert.Equal(ServerState.Draining, await app.WithDbAsync(d => d.EngineServers.Where(s => s.Id == Annex).Select(s => s.State).SingleAsync()));
        var audited = await app.WithDbAsync(d => d.AuditLog.Where(a => a.Action == "server.changed" && a.TargetId == Annex).ToListAsync());
        Assert.Contains(audited, a => a.Actor.StartsWith("operator:", StringComparison.Ordinal) && a.Detail == "state draining");
        await app.CreateDatabaseAsync(account, "mariadb", "delta");
        Assert.Equal(onDefault + 1, (await ServersOfAsync(app, account.Id)).Count(p => p == Default));
        await AccessibilityTests.CheckAsync(page, "/admin/servers with a draining server", problems);
        await ShotAsync(page, "servers-02-draining");

        // Undrain: active again, in the registry too.
        await Server(page, Annex).GetByRole(AriaRole.Button, new() { Name = "Undrain mariadb/annex" }).ClickAsync();
        await page.WaitForFunctionAsync("() => document.querySelector('.banner.notice')?.textContent.includes('is active')");
        Assert.Equal("active", await Text(Server(page, Annex).Locator(".badge.state")));
        Assert.Equal(1, await Server(page, Annex).GetByRole(AriaRole.Button, new() { Name = "Drain mariadb/annex" }).CountAsync());
        Assert.Equal(ServerState.Active, app.Services.GetRequiredService<EngineRegistry>().Server(Annex)!.Row.State);
        await ShotAsync(page, "servers-03-undrained");

        // The Usage page: one series per server, the added one included.
        await page.GotoAsync("/admin/usage");
        var bytes = page.Locator("svg#fleet-bytes-graph[role=img]");
        var databases = page.Locator("svg#fleet-databases-graph[role=img]");
        foreach (var id in new[] { Default, Annex })
        {
            Assert.Contains(id, await bytes.TextContentAsync());
            Assert.Contains(id, await databases.TextContentAsync());
        }
        var sentence = await Text(page.Locator("figure.fleet-databases figcaption"));
        Assert.Contains($"{Annex}: {(onAnnex == 1 ? "1 database" : $"{onAnnex} databases")} now", sentence);
        Assert.Contains($"{Default}: {onDefault} databases now", sentence);
        await AccessibilityTests.CheckAsync(page, "/admin/usage with two servers", problems);
        await page.Locator(".usage-graphs").ScreenshotAsync(new() { Path = Path.Combine(Browser.ScreenshotDir, "usage-fleet-servers.png") });
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private static ILocator Server(IPage page, string id) => page.Locator($"article.server[data-server='{id}']");

    private static async Task<string> Text(ILocator locator) => (await locator.TextContentAsync())!.Trim();

    private static Task<List<string>> ServersOfAsync(HepDbApp app, string accountId) =>
        app.WithDbAsync(d => d.Databases.Where(x => x.AccountId == accountId).Select(x => x.ServerId).ToListAsync());
}
