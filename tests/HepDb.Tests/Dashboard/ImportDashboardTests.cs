using System.Text;
using HepDb.Accounts;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static HepDb.Tests.Dashboard.DashboardKit;

namespace HepDb.Tests.Dashboard;

/// <summary>Import in the dashboard (issue 13) in a real Chromium, checked with the real client on the real server: a
/// .sql uploaded through a card's form (with its progress bar moving) lands in the database; the plain form post does the
/// same without the script; a file larger than the free storage is refused with the service's message and changes
/// nothing; the handler takes uploads larger than the server's default body limit while other handlers keep it; a
/// suspended account's form is disabled.</summary>
public sealed class ImportDashboardTests(EngineServers engines, Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task A_tenant_imports_a_sql_file_from_the_card_sees_the_upload_progress_and_the_rows_are_there()
    {
        await using var app = new HepDbApp(engines);
        var page = await browser.NewPageAsync(app.StartRealServer());
        await SignUpAsync(page, $"import-{Guid.NewGuid():N}@example.com");
        await CreateDatabaseAsync(page, "importer", "postgres");
        var card = Card(page, "importer");
        app.Remember((await card.Locator(".password").TextContentAsync())!.Trim());
        var connection = (await card.Locator(".connection-string").TextContentAsync())!.Trim();
        var dbUser = (await card.Locator(".dbuser").TextContentAsync())!.Trim();
        var dbId = (await card.GetAttributeAsync("id"))!["db-".Length..];
        await Tenant.MustRunAsync(connection, "CREATE TABLE existing (id INT PRIMARY KEY, body TEXT); INSERT INTO existing VALUES (1, 'before');");
        await page.GotoAsync("/dashboard/database"); // no banner left from the create
        card = Card(page, "importer");

        // The form says what it takes and what it does; the file input is labelled.
        var form = card.Locator("form.import");
        var label = (await form.Locator("label").TextContentAsync())!;
        Assert.Contains(".sql.gz", label);
        Assert.Contains("pg_dump custom archive (.dump)", label);
        var help = (await form.Locator(".muted").First.TextContentAsync())!;
        Assert.Contains("added to what", help);
        Assert.Contains("own user", help);
        Assert.Contains("larger than your free storage", help);
        Assert.Equal(".sql,.gz,.dump", await card.GetByLabel("Import a file").GetAttributeAsync("accept"));

        // About 1 MB of SQL, so that the upload reports progress.
        var sql = new StringBuilder("CREATE TABLE uploaded (id INT PRIMARY KEY, body TEXT);\n");
        for (var i = 1; i <= 1000; i++) sql.Append(CultureInvariant($"INSERT INTO uploaded VALUES ({i}, '{new string('u', 1000)}');\n"));
        var bytes = Encoding.UTF8.GetBytes(sql.ToString());
        await card.GetByLabel("Import a file").SetInputFilesAsync(new FilePayload { Name = "data.sql", MimeType = "application/sql", Buffer = bytes });
        // Watch the card's <progress> (the page itself is not reloaded: the script swaps in the server's answer).
        await page.EvaluateAsync("""
            (id) => {
                window.seenProgress = [];
                const bar = document.querySelector(`#import-${id} progress`);
                new MutationObserver(() => window.seenProgress.push({ value: bar.value, max: bar.max, hidden: bar.hidden })).observe(bar, { attributes: true });
            }
            """, dbId);
        await form.GetByRole(AriaRole.Button, new() { Name = "Import", Exact = true }).ClickAsync();
        await page.Locator(".banner.notice, .banner.error").First.WaitForAsync(new() { Timeout = 120_000 });
        Assert.Equal($"Imported {HepDb.Web.Display.Format.Bytes(bytes.Length)} of SQL into importer ({(await Card(page, "importer").Locator(".dbname").TextContentAsync())!.Trim()}).",
            await NoticeAsync(page));
        Assert.EndsWith("/dashboard/database", page.Url);
        // The bar was shown and reached the whole request (the file and the form around it).
        var seen = await page.EvaluateAsync<string>("JSON.stringify(window.seenProgress)");
        Assert.True(await page.EvaluateAsync<bool>($"window.seenProgress.some(p => !p.hidden && p.max >= {bytes.Length} && p.value === p.max)"), seen);
        await ShotAsync(page, "import-01-done");

        Assert.Equal("1000", await Tenant.MustRunAsync(connection, "SELECT COUNT(*) FROM uploaded"));
        Assert.Equal(dbUser, await Tenant.MustRunAsync(connection, "SELECT tableowner FROM pg_tables WHERE tablename = 'uploaded'"));
        Assert.Equal("before", await Tenant.MustRunAsync(connection, "SELECT body FROM existing WHERE id = 1"));
        Assert.Equal(1, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.Action == "database.imported" && a.TargetId == dbId)));

        // Without the script the same form is a plain multipart post, answered with the page and its notice.
        await page.EvaluateAsync("(id) => document.getElementById(`import-${id}`).removeAttribute('data-import')", dbId);
        card = Card(page, "importer");
        await card.GetByLabel("Import a file").SetInputFilesAsync(new FilePayload
            { Name = "more.sql", MimeType = "application/sql", Buffer = Encoding.UTF8.GetBytes("INSERT INTO existing VALUES (2, 'plain post');") });
        await card.Locator("form.import").GetByRole(AriaRole.Button, new() { Name = "Import", Exact = true }).ClickAsync();
        await page.WaitForURLAsync("**/dashboard/database");
        Assert.StartsWith("Imported 46 B of SQL into importer", await NoticeAsync(page));
        Assert.Equal("plain post", await Tenant.MustRunAsync(connection, "SELECT body FROM existing WHERE id = 2"));
    }

    [Fact]
    public async Task A_file_larger_than_the_free_storage_is_refused_on_the_page_and_changes_nothing_and_a_suspended_account_cannot_import()
    {
        await using var app = new HepDbApp(engines, new() { ["Tiers:Free:StorageMb"] = "1" });
        var baseUrl = app.StartRealServer();
        var (accountId, email) = await DashboardAccounts.CreateAsync(app, Tier.Free);
        var page = await SignedInPageAsync(browser, baseUrl, email);
        await CreateDatabaseAsync(page, "small", "mariadb");
        var card = Card(page, "small");
        app.Remember((await card.Locator(".password").TextContentAsync())!.Trim());
        var connection = (await card.Locator(".connection-string").TextContentAsync())!.Trim();
        await Tenant.MustRunAsync(connection, "CREATE TABLE existing (id INT PRIMARY KEY, body VARCHAR(20)); INSERT INTO existing VALUES (1, 'before');");
        await page.GotoAsync("/dashboard/database"); // no banner left from the create
        card = Card(page, "small");
        Assert.Equal(".sql,.gz", await card.GetByLabel("Import a file").GetAttributeAsync("accept")); // no pg_dump archives for MariaDB

        // 2 MB of SQL against 1 MB of storage.
        var sql = new StringBuilder("CREATE TABLE too_big (body TEXT);\nUPDATE existing SET body = 'changed';\n");
        while (sql.Length < 2 << 20) sql.Append(CultureInvariant($"INSERT INTO too_big VALUES ('{new string('b', 1000)}');\n"));
        await card.GetByLabel("Import a file").SetInputFilesAsync(new FilePayload { Name = "big.sql", MimeType = "application/sql", Buffer = Encoding.UTF8.GetBytes(sql.ToString()) });
        await card.Locator("form.import").GetByRole(AriaRole.Button, new() { Name = "Import", Exact = true }).ClickAsync();
        await page.Locator(".banner.notice, .banner.error").First.WaitForAsync(new() { Timeout = 60_000 });
        var error = await ErrorAsync(page);
        Assert.StartsWith("The import holds 2 MB of SQL but the account has", error);
        Assert.EndsWith("Nothing was changed.", error);
        Assert.Equal(0, await page.Locator(".banner.notice").CountAsync());
        await ShotAsync(page, "import-02-refused");

        Assert.Equal("existing", await Tenant.MustRunAsync(connection, "SELECT GROUP_CONCAT(table_name) FROM information_schema.tables WHERE table_schema = DATABASE()"));
        Assert.Equal("before", await Tenant.MustRunAsync(connection, "SELECT body FROM existing WHERE id = 1"));
        Assert.Equal(0, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.Action == "database.imported")));

        // No file: refused with a message, not an error page. (From a fresh page, so the banner waited for is the new one.)
        await page.GotoAsync("/dashboard/database");
        await page.EvaluateAsync("() => document.querySelectorAll('form.import input[type=file]').forEach(i => i.required = false)");
        await Card(page, "small").Locator("form.import").GetByRole(AriaRole.Button, new() { Name = "Import", Exact = true }).ClickAsync();
        await page.Locator(".banner.error").WaitForAsync();
        Assert.StartsWith("Choose a file to import", await ErrorAsync(page));

        // Suspended: the form is disabled, and the handler is refused anyway.
        await using (var scope = app.Services.CreateAsyncScope())
            Assert.True((await scope.ServiceProvider.GetRequiredService<Suspension>()
                .SuspendAsync(accountId, "test", HepDb.Audit.Actor.Operator, CancellationToken.None)).Ok);
        await page.GotoAsync("/dashboard/database");
        card = Card(page, "small");
        Assert.True(await card.GetByLabel("Import a file").IsDisabledAsync());
        Assert.True(await card.Locator("form.import").GetByRole(AriaRole.Button, new() { Name = "Import", Exact = true }).IsDisabledAsync());
    }

    [Fact]
    public async Task The_import_handler_takes_uploads_over_the_servers_default_body_limit_and_other_handlers_do_not()
    {
        await using var app = new HepDbApp(engines);
        var page = await browser.NewPageAsync(app.StartRealServer());
        await SignUpAsync(page, $"import-big-{Guid.NewGuid():N}@example.com");
        await CreateDatabaseAsync(page, "roomy", "mariadb");
        var card = Card(page, "roomy");
        app.Remember((await card.Locator(".password").TextContentAsync())!.Trim());
        var connection = (await card.Locator(".connection-string").TextContentAsync())!.Trim();
        var dbId = (await card.GetAttributeAsync("id"))!["db-".Length..];
        await page.GotoAsync("/dashboard/database"); // no banner left from the create
        card = Card(page, "roomy");

        // 31 MiB (Kestrel refuses bodies over 30,000,000 bytes by default): comments, then one table. Given to the
        // browser as a file on disk, as a person would.
        var path = Path.Combine(Path.GetTempPath(), $"import-{Guid.NewGuid():N}.sql");
        try
        {
            await using (var file = File.Create(path))
            {
                var padding = Encoding.UTF8.GetBytes("-- " + new string('p', 1020) + "\n");
                while (file.Length < 31L << 20) file.Write(padding);
                file.Write("CREATE TABLE after_padding (id INT); INSERT INTO after_padding VALUES (42);\n"u8);
            }
            await card.GetByLabel("Import a file").SetInputFilesAsync(path);
            await card.Locator("form.import").GetByRole(AriaRole.Button, new() { Name = "Import", Exact = true }).ClickAsync();
            await page.Locator(".banner.notice, .banner.error").First.WaitForAsync(new() { Timeout = 180_000 });
            Assert.StartsWith("Imported 31 MB of SQL into roomy", await NoticeAsync(page));
            Assert.Equal("42", await Tenant.MustRunAsync(connection, "SELECT id FROM after_padding"));

            // The same body to another handler of the page (with the session and a valid token) is refused by the server's
            // default limit before any handler runs.
            var token = (await page.Locator("input[name=__RequestVerificationToken]").First.GetAttributeAsync("value"))!;
            var cookies = string.Join("; ", (await page.Context.CookiesAsync()).Select(c => $"{c.Name}={c.Value}"));
            using var http = new HttpClient { BaseAddress = new Uri(app.BaseUrl!), Timeout = TimeSpan.FromMinutes(3) };
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/dashboard/database?handler=Backup&id={dbId}");
            request.Headers.Add("Cookie", cookies);
            await using var body = File.OpenRead(path);
            request.Content = new MultipartFormDataContent
            {
                { new StringContent(token), "__RequestVerificationToken" },
                { new StreamContent(body), "upload", "padded.sql" },
            };
            int status;
            try { status = (int)(await http.SendAsync(request, TestContext.Current.CancellationToken)).StatusCode; }
            catch (HttpRequestException) { status = 413; } // the server may close the connection on the oversized body
            Assert.Contains(status, new[] { 400, 413 });
            Assert.Equal(0, await app.WithDbAsync(d => d.Backups.CountAsync(b => b.DatabaseId == dbId && b.Kind == HepDb.Backups.BackupKind.Manual)));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static string CultureInvariant(FormattableString s) => FormattableString.Invariant(s);
}
