using Deque.AxeCore.Playwright;
using HepDb.Tests.Infrastructure;
using Microsoft.Playwright;
using static HepDb.Tests.Dashboard.DashboardKit;

namespace HepDb.Tests.Dashboard;

/// <summary>axe-core (Deque's engine, run inside the real Chromium) finds no accessibility problem, of any impact, on
/// any page: labelled controls, contrast, landmarks, names for buttons and links, table headers.</summary>
public sealed class AccessibilityTests(EngineServers engines, Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task Every_page_of_a_tenant_passes_axe_without_violations()
    {
        await using var app = new HepDbApp(engines);
        var baseUrl = app.StartRealServer();
        var page = await browser.NewPageAsync(baseUrl);
        var problems = new List<string>();

        foreach (var path in new[] { "/sign-in", "/sign-up" })
        {
            await page.GotoAsync(path);
            await CheckAsync(page, path, problems);
        }

        var (_, operatorEmail) = await DashboardAccounts.CreateOperatorAsync(app);
        await SignInAsync(page, operatorEmail);
        await page.WaitForURLAsync("**/dashboard/database");
        app.Remember(await CreateKeyAsync(page, "a11y"));
        await CheckAsync(page, "api-keys with a new key", problems);
        await CreateDatabaseAsync(page, "a11y-app", "mariadb");
        await CheckAsync(page, "databases with a revealed password", problems);
        // A card with a backup (its Download and Restore controls), then a deleted database under Recently deleted.
        await Card(page, "a11y-app").GetByRole(AriaRole.Button, new() { Name = "Back up now" }).ClickAsync();
        await page.Locator(".banner.notice, .banner.error").First.WaitForAsync();
        await Card(page, "a11y-app").Locator("summary", new() { HasTextString = "Restore" }).First.ClickAsync();
        await CheckAsync(page, "databases with a backup", problems);
        await CreateDatabaseAsync(page, "a11y-gone", "mariadb");
        var gone = Card(page, "a11y-gone");
        await gone.Locator("summary", new() { HasTextString = "Delete" }).ClickAsync();
        await gone.Locator("input[id^=confirm-]").FillAsync("a11y-gone");
        await gone.GetByRole(AriaRole.Button, new() { Name = "Delete database" }).ClickAsync();
        await page.Locator("#recently-deleted").WaitForAsync();
        await CheckAsync(page, "databases with a recently deleted one", problems);
        foreach (var path in new[] { "/dashboard/database", "/dashboard/database/api-keys", "/dashboard/database/top-up",
                     "/dashboard/database/activity", "/dashboard/account" })
        {
            await page.GotoAsync(path);
            await CheckAsync(page, path, problems);
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public async Task Signing_up_and_creating_a_database_work_from_the_keyboard_alone()
    {
        await using var app = new HepDbApp(engines);
        var page = await browser.NewPageAsync(app.StartRealServer());
        await page.GotoAsync("/sign-up");
        await page.Keyboard.TypeAsync($"keys-{Guid.NewGuid():N}@example.com"); // the email field has the focus
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.TypeAsync(Password);
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForURLAsync("**/dashboard/database");

        await TabToAsync(page, "create-name");
        await page.Keyboard.TypeAsync("typed-app");
        await page.Keyboard.PressAsync("Enter");
        Assert.Contains("Created typed-app", await NoticeAsync(page));

        // Reveal is reachable with Tab and works with Enter.
        await page.GotoAsync("/dashboard/database");
        await TabToAsync(page, null, "Reveal");
        await page.Keyboard.PressAsync("Enter");
        await page.Locator(".password").WaitForAsync();
        app.Remember((await page.Locator(".password").TextContentAsync())!.Trim());
    }

    /// <summary>Presses Tab until the element with <paramref name="id"/> (or a button with <paramref name="text"/>) has the focus.</summary>
    private static async Task TabToAsync(IPage page, string? id, string? text = null)
    {
        for (var i = 0; i < 40; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            var focused = await page.EvaluateAsync<string[]>("() => [document.activeElement.id, document.activeElement.textContent.trim()]");
            if ((id is not null && focused[0] == id) || (text is not null && focused[1] == text)) return;
        }
        Assert.Fail($"Tab never reached {id ?? text}");
    }

    internal static async Task CheckAsync(IPage page, string where, List<string> problems)
    {
        var result = await page.RunAxe();
        Assert.NotEmpty(result.Passes); // axe really ran its rules on this page
        foreach (var v in result.Violations)
            problems.Add($"{where}: {v.Impact} {v.Id}: {v.Help} at {string.Join(", ", v.Nodes.Select(n => n.Html))}");
    }
}

/// <summary>The operator's pages pass axe too; a class of its own, so it runs beside the tenant's pages.</summary>
public sealed class AdminAccessibilityTests(EngineServers engines, Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task Every_admin_page_passes_axe_without_violations()
    {
        await using var app = new HepDbApp(engines);
        var page = await browser.NewPageAsync(app.StartRealServer());
        var (_, operatorEmail) = await DashboardAccounts.CreateOperatorAsync(app);
        await SignInAsync(page, operatorEmail);
        await page.WaitForURLAsync("**/dashboard/database");
        var problems = new List<string>();
        foreach (var path in new[] { "/admin", "/admin/engines", "/admin/backups", "/admin/audit" })
        {
            await page.GotoAsync(path);
            await AccessibilityTests.CheckAsync(page, path, problems);
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
