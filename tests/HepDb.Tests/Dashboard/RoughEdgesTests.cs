using HepDb.Accounts;
using HepDb.Audit;
using HepDb.Databases;
using HepDb.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static HepDb.Tests.Dashboard.DashboardKit;

namespace HepDb.Tests.Dashboard;

/// <summary>Rough edges a new user hit in the dashboard (issue 12), each in a real browser.</summary>
public sealed class RoughEdgesTests(EngineServers engines, Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task Copy_beside_a_masked_connection_string_copies_the_real_one_and_is_audited_as_a_reveal()
    {
        await using var app = new HepDbApp(engines);
        var baseUrl = app.StartRealServer();
        var (accountId, email) = await DashboardAccounts.CreateAsync(app, Tier.Free);
        var key = await app.MintKeyAsync(accountId);
        var database = await app.CreateDatabaseAsync(new TestAccount(accountId, key, app.ApiClient(key)), "mariadb");
        var page = await SignedInPageAsync(browser, baseUrl, email);
        // What the page puts on the clipboard, recorded (headless Chromium's clipboard is not the test's to read).
        await page.AddInitScriptAsync("window.__copied = []; navigator.clipboard.writeText = async (t) => { window.__copied.push(t); };");
        await page.ReloadAsync();

        var card = Card(page, "my-app");
        Assert.Contains(HepDb.Web.Pages.Dashboard.Database.IndexModel.Mask, await card.Locator(".connection-string").TextContentAsync());
        var copy = card.GetByRole(AriaRole.Button, new() { Name = "Copy connection string" });
        await copy.ClickAsync();
        await Assertions.Expect(copy).ToHaveTextAsync("Copied");
        Assert.Equal([database.ConnectionString], await page.EvaluateAsync<string[]>("() => window.__copied"));
        Assert.Contains(HepDb.Web.Pages.Dashboard.Database.IndexModel.Mask, await card.Locator(".connection-string").TextContentAsync()); // still masked on screen
        Assert.Equal(1, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.AccountId == accountId && a.Action == "database.password_revealed")));

        // Once revealed, the button copies what the page shows, without another request.
        await card.GetByRole(AriaRole.Button, new() { Name = "Reveal" }).ClickAsync();
        await Card(page, "my-app").GetByRole(AriaRole.Button, new() { Name = "Copy connection string" }).ClickAsync();
        Assert.Equal([database.ConnectionString], await page.EvaluateAsync<string[]>("() => window.__copied"));
    }

    [Fact]
    public async Task A_suspended_account_can_neither_change_its_password_nor_buy_a_pack()
    {
        await using var app = new HepDbApp(engines, new() { ["Packs:CheckoutUrl"] = "https://pay.example.test/{pack}?account={account}" });
        var baseUrl = app.StartRealServer();
        var (accountId, email) = await DashboardAccounts.CreateAsync(app, Tier.Free);
        var page = await SignedInPageAsync(browser, baseUrl, email);
        await page.GotoAsync("/dashboard/database/top-up");
        Assert.True(await page.GetByRole(AriaRole.Link, new() { Name = "Buy" }).CountAsync() > 0);

        await using (var scope = app.Services.CreateAsyncScope())
            Assert.Empty((await scope.ServiceProvider.GetRequiredService<Suspension>().SuspendAsync(accountId, "billing dispute", Actor.Operator, CancellationToken.None)).Value!);

        // Top Up: no Buy link, a disabled Buy that says why.
        await page.GotoAsync("/dashboard/database/top-up");
        Assert.Equal(0, await page.GetByRole(AriaRole.Link, new() { Name = "Buy" }).CountAsync());
        var buy = page.GetByRole(AriaRole.Button, new() { Name = "Buy" }).First;
        Assert.True(await buy.IsDisabledAsync());
        Assert.Contains("cannot be bought while the account is suspended", await page.Locator("#buy-locked").TextContentAsync());
        await ShotAsync(page, "16-top-up-suspended");

        // Account: the form is disabled with a reason, and a post made anyway is refused and changes nothing.
        await page.GotoAsync("/dashboard/account");
        Assert.True(await page.GetByRole(AriaRole.Button, new() { Name = "Change password" }).IsDisabledAsync());
        Assert.Contains("suspended", await page.Locator("#password-locked").TextContentAsync());
        await ShotAsync(page, "17-account-suspended");
        var token = await page.Locator("input[name=__RequestVerificationToken]").First.GetAttributeAsync("value");
        var post = await page.APIRequest.PostAsync("/dashboard/account?handler=Password", new()
        {
            Form = page.APIRequest.CreateFormData().Append("CurrentPassword", Password).Append("NewPassword", "a-brand-new-password")
                .Append("__RequestVerificationToken", token!),
        });
        Assert.Contains("Your account is suspended; nothing can be changed", await post.TextAsync());
        await using (var scope = app.Services.CreateAsyncScope())
        {
            var users = scope.ServiceProvider.GetRequiredService<UserManager<HepDb.Web.Users.DashboardUser>>();
            var user = (await users.FindByEmailAsync(email))!;
            Assert.True(await users.CheckPasswordAsync(user, Password));
        }
        Assert.Equal(0, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.AccountId == accountId && a.Action == "user.password_changed")));
    }

    [Fact]
    public async Task The_slots_bar_counts_every_record_the_limit_check_counts()
    {
        await using var app = new HepDbApp(engines);
        var baseUrl = app.StartRealServer();
        var (accountId, email) = await DashboardAccounts.CreateAsync(app, Tier.Premium); // 2 slots
        var key = await app.MintKeyAsync(accountId);
        var account = new TestAccount(accountId, key, app.ApiClient(key));
        await app.CreateDatabaseAsync(account, "mariadb", "ready-one");
        var busy = await app.CreateDatabaseAsync(account, "mariadb", "busy-one");
        // The second one is being provisioned (or deleted): no card yet, but its slot is taken.
        await app.WithDbAsync(d => d.Databases.Where(x => x.Id == busy.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.Phase, DatabasePhase.Provisioning)));
        await ApiAssert.ErrorAsync(await account.Api.PostAsync("/api/v1/db/databases",
            new StringContent("""{"name":"third","engine":"mariadb"}""", System.Text.Encoding.UTF8, "application/json")), 403, "DATABASE_LIMIT_REACHED");

        var page = await SignedInPageAsync(browser, baseUrl, email);
        Assert.Equal(1, await page.Locator("article.database").CountAsync());
        Assert.Equal("2 of 2 used", (await page.Locator("#usage-slots .usage-text").TextContentAsync())!.Trim());
        Assert.Equal("2", await page.Locator("#usage-slots [role=progressbar]").GetAttributeAsync("aria-valuenow"));
        Assert.Contains("1 being created or deleted", await page.Locator("#slots-pending").TextContentAsync());
        await ShotAsync(page, "18-slots-with-one-in-progress");
        await page.GotoAsync("/dashboard/database/top-up");
        Assert.Contains("2 of 2 used", await page.Locator("#effective-limits").TextContentAsync());

        await app.WithDbAsync(d => d.Databases.Where(x => x.Id == busy.Id).ExecuteUpdateAsync(s => s.SetProperty(x => x.Phase, DatabasePhase.Ready)));
    }
}
