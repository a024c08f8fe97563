using HepDb.Quotas;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Npgsql;
using static HepDb.Tests.Dashboard.DashboardKit;

namespace HepDb.Tests.Dashboard;

/// <summary>The usage graphs in a real Chromium after several quota-watcher passes over 40 hours (a test clock) in which
/// a tenant's PostgreSQL database really grows through its own client and holds a varying number of sessions: each card
/// shows its storage against the account's limit and its connections against the per-user limit as SVG with a text
/// equivalent, without script; the operators' Usage page shows bytes and databases per engine. Screenshots land in
/// TestResults/screenshots/.</summary>
public sealed class UsageGraphTests(EngineServers engines, Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task After_watcher_passes_with_real_growth_the_cards_and_the_admin_area_show_usage_graphs()
    {
        var clock = new TestClock();
        await using var app = new HepDbApp(engines, new()
        {
            ["Tiers:Free:Databases"] = "2", ["Tiers:Free:StorageMb"] = "40", ["Tiers:Free:ConnectionsPerUser"] = "6",
        }, clock: clock);
        var baseUrl = app.StartRealServer();
        var page = await browser.NewPageAsync(baseUrl);
        await SignUpAsync(page, $"usage-{Guid.NewGuid():N}@example.com");
        await CreateDatabaseAsync(page, "growing", "postgres");
        var pgConnection = (await Card(page, "growing").Locator(".connection-string").TextContentAsync())!.Trim();
        app.Remember((await Card(page, "growing").Locator(".password").TextContentAsync())!.Trim());
        await CreateDatabaseAsync(page, "steady", "mariadb");
        var mariaConnection = (await Card(page, "steady").Locator(".connection-string").TextContentAsync())!.Trim();
        app.Remember((await Card(page, "steady").Locator(".password").TextContentAsync())!.Trim());
        await Tenant.MustRunAsync(pgConnection, "CREATE TABLE events (id SERIAL PRIMARY KEY, body TEXT)");
        await Tenant.MustRunAsync(mariaConnection, "CREATE TABLE notes (id INT PRIMARY KEY AUTO_INCREMENT, body TEXT) ENGINE=InnoDB");
        var pg = NpgsqlFrom(pgConnection);

        // Nine passes five hours apart: the PostgreSQL database grows by about 1.5 MB before most of them, and holds
        // 0-4 open sessions; the MariaDB one grows a little, once.
        var watcher = app.Services.GetRequiredService<QuotaWatcher>();
        var sessions = new List<NpgsqlConnection>();
        try
        {
            for (var pass = 0; pass < 9; pass++)
            {
                if (pass is not (3 or 4))
                    await Tenant.MustRunAsync(pgConnection,
                        "INSERT INTO events (body) SELECT string_agg(md5(random()::text || g), '') FROM generate_series(1, 1500) g, generate_series(1, 30) k GROUP BY g");
                if (pass == 5)
                    await Tenant.MustRunAsync(mariaConnection, "INSERT INTO notes (body) SELECT REPEAT(MD5(RAND()), 30) FROM seq_1_to_500; ANALYZE TABLE notes;");
                var wanted = new[] { 0, 1, 3, 2, 4, 1, 2, 3, 1 }[pass];
                while (sessions.Count < wanted)
                {
                    var s = new NpgsqlConnection(pg);
                    await s.OpenAsync();
                    sessions.Add(s);
                }
                while (sessions.Count > wanted)
                {
                    await sessions[^1].DisposeAsync();
                    sessions.RemoveAt(sessions.Count - 1);
                }
                await UntilServerSeesAsync(new NpgsqlConnectionStringBuilder(pg).Username!, wanted);
                if (pass > 0) clock.Advance(TimeSpan.FromHours(5));
                Assert.NotNull(await watcher.RunOnceAsync(CancellationToken.None));
            }
        }
        finally
        {
            foreach (var s in sessions) await s.DisposeAsync();
        }

        await page.GotoAsync("/dashboard/database");
        var card = Card(page, "growing");
        var storage = card.Locator("figure.storage-graph svg[role=img]");
        Assert.StartsWith("Storage of growing, last 48 hours. Storage: ", await storage.GetAttributeAsync("aria-label"));
        Assert.Equal("Storage of growing, last 48 hours", await storage.Locator("title").TextContentAsync());
        var sentence = (await card.Locator("figure.storage-graph figcaption").TextContentAsync())!.Trim();
        Assert.Matches(@"^Storage: [\d.]+ MB of 40 MB \(the account's limit\), up from [\d.]+ MB 40 h ago\.$", sentence);
        Assert.Equal(1, await storage.Locator("line.limit").CountAsync());
        Assert.Contains("limit 40 MB", await storage.TextContentAsync());
        var connections = (await card.Locator("figure.connections-graph figcaption").TextContentAsync())!.Trim();
        Assert.Equal("Connections: 1 open at the last sample, at most 4 in the last 48 hours, of 6 allowed at once.", connections);
        Assert.Contains("up from", await Card(page, "steady").Locator("figure.storage-graph figcaption").TextContentAsync());
        Assert.Equal(0, await card.Locator("script").CountAsync());

        // The text equivalent: a table of samples in a disclosure.
        await card.Locator("summary", new() { HasTextString = "Usage as a table" }).ClickAsync();
        var rows = card.Locator("table.graph-table").First.Locator("tbody tr");
        Assert.Equal(8, await rows.CountAsync());
        var problems = new List<string>();
        await AccessibilityTests.CheckAsync(page, "databases with usage graphs", problems);
        await card.Locator(".usage-graphs").ScreenshotAsync(new() { Path = Path.Combine(Browser.ScreenshotDir, "usage-01-card-graphs.png") });
        await ShotAsync(page, "usage-02-dashboard");

        // The operators' Usage page: bytes and databases per engine server.
        var (_, operatorEmail) = await DashboardAccounts.CreateOperatorAsync(app);
        var admin = await SignedInPageAsync(browser, baseUrl, operatorEmail);
        await admin.GotoAsync("/admin/usage");
        var bytes = admin.Locator("svg#fleet-bytes-graph[role=img]");
        Assert.Contains("mariadb/default", await bytes.TextContentAsync());
        Assert.Contains("postgres/default", await bytes.TextContentAsync());
        Assert.Contains("postgres/default: 1 database now", await admin.Locator("figure.fleet-databases figcaption").TextContentAsync());
        await AccessibilityTests.CheckAsync(admin, "/admin/usage", problems);
        await admin.Locator(".usage-graphs").ScreenshotAsync(new() { Path = Path.Combine(Browser.ScreenshotDir, "usage-03-admin-fleet.png") });
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    /// <summary>The tenant's revealed URI as an Npgsql connection string (unpooled: each session is one connection).</summary>
    /// <summary>A closed session's server process ends a moment after the client has gone: wait until the server
    /// counts exactly <paramref name="sessions"/> for <paramref name="user"/>, so the watcher's count is the one meant.</summary>
    private async Task UntilServerSeesAsync(string user, int sessions)
    {
        var admin = $"Host=127.0.0.1;Port={engines.Engines.Postgres.Port};Username=postgres;Password={engines.Engines.Postgres.AdminPassword};Database=postgres;Pooling=false";
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            await using var conn = new NpgsqlConnection(admin);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE usename = $1", conn);
            cmd.Parameters.AddWithValue(user);
            var seen = (long)(await cmd.ExecuteScalarAsync())!;
            if (seen == sessions) return;
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(10), $"the server still counts {seen} sessions of {user}, not {sessions}");
            await Task.Delay(20);
        }
    }

    private static string NpgsqlFrom(string uri)
    {
        var u = new Uri(uri);
        var user = u.UserInfo.Split(':', 2);
        return new NpgsqlConnectionStringBuilder
        {
            Host = u.Host, Port = u.Port, Username = Uri.UnescapeDataString(user[0]), Password = Uri.UnescapeDataString(user[1]),
            Database = u.AbsolutePath.Trim('/'), Pooling = false,
        }.ConnectionString;
    }
}
