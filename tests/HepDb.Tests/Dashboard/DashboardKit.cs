using HepDb.Accounts;
using HepDb.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace HepDb.Tests.Dashboard;

/// <summary>What a person does in the dashboard, as Playwright steps against the real pages.</summary>
public static class DashboardKit
{
    public const string Password = "correct-horse-battery";

    public static async Task SignUpAsync(IPage page, string email, string password = Password)
    {
        await page.GotoAsync("/sign-up");
        await page.Locator("#email").FillAsync(email);
        await page.Locator("#password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create account" }).ClickAsync();
        await page.WaitForURLAsync("**/dashboard/database");
    }

    public static async Task SignInAsync(IPage page, string email, string password = Password)
    {
        await page.GotoAsync("/sign-in");
        await page.Locator("#email").FillAsync(email);
        await page.Locator("#password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
    }

    /// <summary>A fresh browser context signed in as <paramref name="email"/>, on the Databases tab.</summary>
    public static async Task<IPage> SignedInPageAsync(Browser browser, string baseUrl, string email)
    {
        var page = await browser.NewPageAsync(baseUrl);
        await SignInAsync(page, email);
        await page.WaitForURLAsync("**/dashboard/database");
        return page;
    }

    /// <summary>Creates a key in the API Keys tab and returns the value shown (once).</summary>
    public static async Task<string> CreateKeyAsync(IPage page, string label)
    {
        await page.GotoAsync("/dashboard/database/api-keys");
        await page.Locator("#key-label").FillAsync(label);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create key" }).ClickAsync();
        return (await page.Locator("#new-key-value").TextContentAsync())!.Trim();
    }

    public static ILocator KeyRow(IPage page, string key) => page.Locator($"tr[data-prefix='{key[..13]}']");

    public static async Task CreateDatabaseAsync(IPage page, string name, string engine)
    {
        await page.GotoAsync("/dashboard/database");
        await page.Locator("#create-name").FillAsync(name);
        await page.Locator("#create-engine").SelectOptionAsync(engine);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create database" }).ClickAsync();
        await page.Locator(".banner.notice, .banner.error").First.WaitForAsync();
    }

    public static ILocator Card(IPage page, string name) =>
        page.Locator("article.database").Filter(new() { Has = page.Locator("h2", new() { HasTextString = name }) });

    public static async Task<string> NoticeAsync(IPage page) => (await page.Locator(".banner.notice").TextContentAsync())!.Trim();
    public static async Task<string> ErrorAsync(IPage page) => (await page.Locator(".banner.error").First.TextContentAsync())!.Trim();

    public static Task ShotAsync(IPage page, string name) => Browser.ScreenshotAsync(page, name);
}

/// <summary>Accounts with a dashboard user, made through the same service the operator tool uses.</summary>
public static class DashboardAccounts
{
    public static async Task<(string AccountId, string Email)> CreateAsync(HepDbApp app, Tier tier)
    {
        var email = $"{tier.WireName()}-{Guid.NewGuid():N}@example.com";
        await using var scope = app.Services.CreateAsyncScope();
        var account = (await scope.ServiceProvider.GetRequiredService<HepDb.Accounts.AccountService>()
            .CreateAsync(email, tier.WireName(), HepDb.Audit.Actor.Operator, CancellationToken.None)).Value!;
        Assert.Null(await scope.ServiceProvider.GetRequiredService<HepDb.Web.Users.DashboardUsers>()
            .SetPasswordAsync(account, DashboardKit.Password, HepDb.Audit.Actor.Operator, CancellationToken.None));
        return (account.Id, email);
    }

    /// <summary>An admin-tier account whose user holds the operator right, granted as <c>hepdb-admin operator grant</c>
    /// does: the tier alone opens nothing.</summary>
    public static async Task<(string AccountId, string Email)> CreateOperatorAsync(HepDbApp app, Tier tier = Tier.Admin)
    {
        var (accountId, email) = await CreateAsync(app, tier);
        await using var scope = app.Services.CreateAsyncScope();
        Assert.True((await scope.ServiceProvider.GetRequiredService<HepDb.Web.Users.DashboardUsers>()
            .SetOperatorAsync(email, true, HepDb.Audit.Actor.Operator, CancellationToken.None)).Ok);
        return (accountId, email);
    }
}
