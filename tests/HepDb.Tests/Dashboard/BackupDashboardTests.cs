using System.Net;
using System.Text;
using HepDb.Accounts;
using HepDb.Backups;
using HepDb.Tests.Api;
using HepDb.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static HepDb.Tests.Dashboard.DashboardKit;

namespace HepDb.Tests.Dashboard;

/// <summary>Backups in the dashboard (issue 13) in a real Chromium, checked with the real client on the real server:
/// back up now, restore with the typed-name confirmation, download through the page, delete and restore the deleted
/// database into a new one; another tenant's backup is never served; the operators' Backups page.</summary>
public sealed class BackupDashboardTests(EngineServers engines, Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task A_tenant_backs_up_restores_downloads_deletes_and_recovers_a_database_from_the_dashboard()
    {
        await using var app = new HepDbApp(engines);
        var page = await browser.NewPageAsync(app.StartRealServer());
        await SignUpAsync(page, $"backups-{Guid.NewGuid():N}@example.com");
        await CreateDatabaseAsync(page, "keep-me", "postgres");
        var card = Card(page, "keep-me");
        app.Remember((await card.Locator(".password").TextContentAsync())!.Trim());
        var connection = (await card.Locator(".connection-string").TextContentAsync())!.Trim();
        var dbName = (await card.Locator(".dbname").TextContentAsync())!.Trim();
        Assert.Contains("No backups yet", await card.Locator(".backups").TextContentAsync());
        await Tenant.MustRunAsync(connection, "CREATE TABLE notes (id INT PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'before');");

        // Back up now: listed with its kind, size and status.
        await card.GetByRole(AriaRole.Button, new() { Name = "Back up now" }).ClickAsync();
        Assert.Contains("Backed up keep-me", await NoticeAsync(page));
        card = Card(page, "keep-me");
        var rows = card.Locator("table.backup-list tbody tr");
        Assert.Equal(1, await rows.CountAsync());
        var row = rows.First;
        Assert.Equal("manual", (await row.Locator(".backup-kind").TextContentAsync())!.Trim());
        Assert.Equal("complete", (await row.Locator(".backup-status").TextContentAsync())!.Trim());
        var backupId = (await row.GetAttributeAsync("data-backup-id"))!;
        await ShotAsync(page, "backups-01-listed");

        // Restore needs the name typed: a wrong one changes nothing; the right one brings the row back.
        await Tenant.MustRunAsync(connection, "UPDATE notes SET body = 'after' WHERE id = 1");
        await row.Locator("summary", new() { HasTextString = "Restore" }).ClickAsync();
        await row.Locator("input[name=confirmation]").FillAsync("keep");
        await row.GetByRole(AriaRole.Button, new() { Name = "Restore this backup" }).ClickAsync();
        Assert.Equal(HepDb.Api.ApiErrors.ConfirmationMismatch("keep-me").Message, await ErrorAsync(page));
        Assert.Equal("after", await Tenant.MustRunAsync(connection, "SELECT body FROM notes WHERE id = 1"));
        row = Card(page, "keep-me").Locator($"tr[data-backup-id='{backupId}']");
        await row.Locator("summary", new() { HasTextString = "Restore" }).ClickAsync();
        await row.Locator("input[name=confirmation]").FillAsync("keep-me");
        await row.GetByRole(AriaRole.Button, new() { Name = "Restore this backup" }).ClickAsync();
        Assert.Contains("Restored keep-me", await NoticeAsync(page));
        Assert.Equal("before", await Tenant.MustRunAsync(connection, "SELECT body FROM notes WHERE id = 1"));

        // Download through the page: the engine's own dump (pg_dump custom format), never cached.
        row = Card(page, "keep-me").Locator($"tr[data-backup-id='{backupId}']");
        var download = await page.RunAndWaitForDownloadAsync(() => row.GetByRole(AriaRole.Link, new() { Name = "Download" }).ClickAsync());
        Assert.StartsWith(dbName + "-", download.SuggestedFilename);
        Assert.EndsWith(".dump", download.SuggestedFilename);
        var bytes = await File.ReadAllBytesAsync((await download.PathAsync())!, TestContext.Current.CancellationToken);
        Assert.Equal("PGDMP", Encoding.ASCII.GetString(bytes, 0, 5));
        var href = (await row.GetByRole(AriaRole.Link, new() { Name = "Download" }).GetAttributeAsync("href"))!;
        var direct = await page.APIRequest.GetAsync(href, new() { MaxRedirects = 0 });
        Assert.Equal(200, direct.Status);
        Assert.Contains("no-store", direct.Headers["cache-control"]);
        Assert.Equal(bytes, await direct.BodyAsync());

        // Delete: the confirmation says a final backup is kept; the database is then under Recently deleted.
        card = Card(page, "keep-me");
        await card.Locator("summary", new() { HasTextString = "Delete" }).ClickAsync();
        Assert.Contains("kept for 7 days", await card.Locator("form.confirm", new() { HasTextString = "Delete database" }).TextContentAsync());
        await card.Locator("input[id^=confirm-]").FillAsync("keep-me");
        await card.GetByRole(AriaRole.Button, new() { Name = "Delete database" }).ClickAsync();
        Assert.Contains("Deleted keep-me", await NoticeAsync(page));
        Assert.Contains("A final backup is kept until", await NoticeAsync(page));
        Assert.Equal(0, await Card(page, "keep-me").CountAsync());
        var deleted = page.Locator("#recently-deleted tbody tr");
        Assert.Equal(1, await deleted.CountAsync());
        Assert.Contains("keep-me", await deleted.First.Locator(".deleted-name").TextContentAsync());
        Assert.Contains(dbName, await deleted.First.Locator(".deleted-name").TextContentAsync());
        await ShotAsync(page, "backups-02-recently-deleted");

        // Restore into a new database: the row is there, with a new password.
        await deleted.First.GetByRole(AriaRole.Button, new() { Name = "Restore into a new database: keep-me" }).ClickAsync();
        Assert.Contains("Restored keep-me into a new database", await NoticeAsync(page));
        card = Card(page, "keep-me");
        await card.GetByRole(AriaRole.Button, new() { Name = "Reveal" }).ClickAsync();
        card = Card(page, "keep-me");
        app.Remember((await card.Locator(".password").TextContentAsync())!.Trim());
        var recovered = (await card.Locator(".connection-string").TextContentAsync())!.Trim();
        Assert.NotEqual(connection, recovered);
        Assert.Equal("before", await Tenant.MustRunAsync(recovered, "SELECT body FROM notes WHERE id = 1"));

        // A final backup is offered once: restored, it leaves Recently deleted (no second copy from one click too many).
        Assert.Equal(0, await page.Locator("#recently-deleted").CountAsync());
        Assert.Equal(1, await page.Locator("article.database").CountAsync());
    }

    [Fact]
    public async Task Another_tenants_backup_id_in_the_download_address_gives_no_file_and_a_suspended_owner_gets_none_either()
    {
        await using var app = new HepDbApp(engines);
        var baseUrl = app.StartRealServer();
        var (ownerId, ownerEmail) = await DashboardAccounts.CreateAsync(app, Tier.Free);
        var (_, otherEmail) = await DashboardAccounts.CreateAsync(app, Tier.Free);
        var owner = await SignedInPageAsync(browser, baseUrl, ownerEmail);
        await CreateDatabaseAsync(owner, "owned", "mariadb");
        var card = Card(owner, "owned");
        app.Remember((await card.Locator(".password").TextContentAsync())!.Trim());
        var ownerDbId = (await card.GetAttributeAsync("id"))!["db-".Length..];
        await card.GetByRole(AriaRole.Button, new() { Name = "Back up now" }).ClickAsync();
        Assert.Contains("Backed up owned", await NoticeAsync(owner));
        var backupId = (await Card(owner, "owned").Locator("table.backup-list tbody tr").First.GetAttributeAsync("data-backup-id"))!;

        var other = await SignedInPageAsync(browser, baseUrl, otherEmail);
        await CreateDatabaseAsync(other, "theirs", "mariadb");
        app.Remember((await Card(other, "theirs").Locator(".password").TextContentAsync())!.Trim());
        var otherDbId = (await Card(other, "theirs").GetAttributeAsync("id"))!["db-".Length..];
        foreach (var dbId in new[] { ownerDbId, otherDbId })
        {
            var url = $"/dashboard/database?handler=Download&id={dbId}&backupId={backupId}";
            var raw = await other.APIRequest.GetAsync(url, new() { MaxRedirects = 0 });
            Assert.Equal(302, raw.Status);
            Assert.False(raw.Headers.ContainsKey("content-disposition"));
            await other.GotoAsync(url);
            Assert.EndsWith("/dashboard/database", other.Url);
            Assert.Equal(HepDb.Api.ApiErrors.BackupNotFound.Message, await ErrorAsync(other));
        }
        Assert.Equal(0, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.Action == "backup.downloaded")));
        Assert.Equal(404, (await other.GotoAsync("/admin/backups"))!.Status); // the operators' page is not a tenant's

        // Suspended: Back up now is disabled, no download link is offered, and the address itself is refused.
        await using (var scope = app.Services.CreateAsyncScope())
            Assert.True((await scope.ServiceProvider.GetRequiredService<Suspension>()
                .SuspendAsync(ownerId, "test", HepDb.Audit.Actor.Operator, CancellationToken.None)).Ok);
        await owner.GotoAsync("/dashboard/database");
        card = Card(owner, "owned");
        Assert.True(await card.GetByRole(AriaRole.Button, new() { Name = "Back up now" }).IsDisabledAsync());
        Assert.Equal(0, await card.GetByRole(AriaRole.Link, new() { Name = "Download", Exact = true }).CountAsync());
        await owner.GotoAsync($"/dashboard/database?handler=Download&id={ownerDbId}&backupId={backupId}");
        Assert.Equal(HepDb.Api.ApiErrors.AccountSuspended.Message, await ErrorAsync(owner));
        Assert.Equal(0, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.Action == "backup.downloaded")));
    }

    [Fact]
    public async Task The_admin_backups_page_shows_each_databases_last_success_a_newer_failure_and_overdue_ones()
    {
        await using var app = new HepDbApp(engines);
        var baseUrl = app.StartRealServer();
        var tenant = await app.CreateAccountAsync(Tier.Premium);
        var fresh = await app.CreateDatabaseAsync(tenant, "mariadb", "fresh");
        var stale = await app.CreateDatabaseAsync(tenant, "mariadb", "stale");
        var freshBackup = (await Shape.SuccessAsync(await tenant.Api.PostAsync(HepDb.Tests.Backups.BackupApiTests.BackupsOf(fresh.Id), null), HttpStatusCode.Created))
            .GetProperty("backup");
        var staleBackupId = (await Shape.SuccessAsync(await tenant.Api.PostAsync(HepDb.Tests.Backups.BackupApiTests.BackupsOf(stale.Id), null), HttpStatusCode.Created))
            .GetProperty("backup").GetProperty("id").GetString()!;
        var staleAt = DateTime.UtcNow.AddHours(-30);
        await app.WithDbAsync(d => d.Backups.Where(b => b.Id == staleBackupId).ExecuteUpdateAsync(s => s.SetProperty(b => b.CreatedAt, staleAt)));
        // A failure newer than the fresh database's success.
        await app.WithDbAsync(async d =>
        {
            d.Backups.Add(new Backup
            {
                Id = HepDb.Hosting.Ulid.New(TimeProvider.System), AccountId = tenant.Id, DatabaseId = fresh.Id, Engine = HepDb.Engines.EngineKind.MariaDb,
                DbName = fresh.DbName, DatabaseName = "fresh", Kind = BackupKind.Scheduled, Status = BackupStatus.Failed,
                CreatedAt = DateTime.UtcNow.AddSeconds(5), Error = "mariadb-dump: Got error 2013: Lost connection",
            });
            return await d.SaveChangesAsync();
        });
        var email = await app.WithDbAsync(d => d.Accounts.Where(a => a.Id == tenant.Id).Select(a => a.Email).SingleAsync());

        var (_, operatorEmail) = await DashboardAccounts.CreateOperatorAsync(app);
        var admin = await SignedInPageAsync(browser, baseUrl, operatorEmail);
        await admin.GotoAsync("/admin");
        await admin.GetByRole(AriaRole.Navigation, new() { Name = "Admin" }).GetByRole(AriaRole.Link, new() { Name = "Backups" }).ClickAsync();
        await admin.WaitForURLAsync("**/admin/backups");
        await ShotAsync(admin, "backups-03-admin");

        var freshRow = admin.Locator($"#health-{fresh.Id}");
        Assert.Contains(email, await freshRow.TextContentAsync());
        Assert.Contains("MariaDB", await freshRow.TextContentAsync());
        var success = await freshRow.Locator(".last-success").TextContentAsync();
        Assert.Contains(HepDb.Web.Display.Format.Utc(DateTime.Parse(freshBackup.GetProperty("createdAt").GetString()!,
            System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal)), success);
        Assert.Contains("just now", success);
        Assert.DoesNotContain("overdue", success);
        Assert.Contains("Lost connection", await freshRow.Locator(".last-failure").TextContentAsync());
        Assert.Contains("Lost connection", await admin.Locator("#backup-failures").TextContentAsync());

        var staleRow = admin.Locator($"#health-{stale.Id}");
        Assert.Contains(HepDb.Web.Display.Format.Utc(staleAt), await staleRow.Locator(".last-success").TextContentAsync());
        Assert.Equal(1, await staleRow.Locator(".overdue-flag").CountAsync());
        Assert.Equal("", (await staleRow.Locator(".last-failure").TextContentAsync())!.Trim());
        Assert.Contains("2 backups", await admin.Locator("#backups-stored").TextContentAsync());
    }
}
