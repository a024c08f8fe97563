using System.Net;
using HepDb.Accounts;
using HepDb.Tests.Infrastructure;
using HepDb.Tests.Operator;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using static HepDb.Tests.Dashboard.DashboardKit;

namespace HepDb.Tests.Dashboard;

/// <summary>The operators' admin area in a real browser: what it changes is checked at the API and on the engine.</summary>
public sealed class AdminAreaTests(EngineServers engines, Browser browser) : IClassFixture<Browser>
{
    [Fact]
    public async Task A_non_admin_user_gets_nothing_from_the_admin_area()
    {
        await using var app = new HepDbApp(engines);
        var baseUrl = app.StartRealServer();
        var (tenantId, tenantEmail) = await DashboardAccounts.CreateAsync(app, Tier.Premium);
        var page = await browser.NewPageAsync(baseUrl);

        // Signed out: every admin page sends to the sign-in page.
        var anonymous = await page.GotoAsync("/admin");
        Assert.EndsWith("/sign-in?ReturnUrl=%2Fadmin", page.Url);
        Assert.Equal(200, anonymous!.Status);

        await SignInAsync(page, tenantEmail);
        await page.WaitForURLAsync("**/dashboard/database");
        Assert.Equal(0, await page.Locator("nav a[href='/admin']").CountAsync());
        foreach (var path in new[] { "/admin", "/admin/engines", "/admin/audit", $"/admin/accounts/{tenantId}", "/admin/audit?account=" + tenantId })
        {
            var response = await page.GotoAsync(path);
            Assert.Equal(404, response!.Status);
            Assert.DoesNotContain(tenantEmail, await page.ContentAsync());
        }

        // A forged post with the user's own cookie and a valid antiforgery token still changes nothing.
        await page.GotoAsync("/dashboard/database/api-keys");
        var token = await page.Locator("input[name=__RequestVerificationToken]").First.GetAttributeAsync("value");
        var post = await page.APIRequest.PostAsync($"/admin/accounts/{tenantId}?handler=Tier",
            new() { Form = page.APIRequest.CreateFormData().Append("tier", "admin").Append("__RequestVerificationToken", token!), MaxRedirects = 0 });
        Assert.Equal(404, post.Status);
        Assert.Equal(Tier.Premium, await app.WithDbAsync(d => d.Accounts.Where(a => a.Id == tenantId).Select(a => a.Tier).SingleAsync()));
    }

    /// <summary>Issue 14: the admin tier is a customer's limits and nothing more; the admin area opens to the operator
    /// right, which <c>hepdb-admin operator</c> grants and revokes, and which holds from the user's next request (the
    /// signed-in session is the same throughout: no new sign-in is needed either way).</summary>
    [Fact]
    public async Task The_admin_tier_opens_nothing_the_operator_right_does_and_a_revocation_holds_at_the_next_request()
    {
        await using var app = new HepDbApp(engines);
        var baseUrl = app.StartRealServer();
        var (tenantId, tenantEmail) = await DashboardAccounts.CreateAsync(app, Tier.Free);
        var (customerId, customerEmail) = await DashboardAccounts.CreateAsync(app, Tier.Admin);
        var page = await SignedInPageAsync(browser, baseUrl, customerEmail);
        var paths = new[] { "/admin", "/admin/engines", "/admin/backups", "/admin/audit", $"/admin/accounts/{tenantId}", "/admin/audit?account=" + tenantId };

        await AssertShutAsync(setTier: "premium");

        // Granted: the same session gets in at its next request, and its posts work.
        var granted = await OperatorTool.RunAsync(app, "operator", "grant", "--email", customerEmail);
        Assert.True(granted.ExitCode == 0, granted.ToString());
        await page.GotoAsync("/dashboard/database");
        Assert.Equal(1, await page.Locator("nav a[href='/admin']").CountAsync());
        foreach (var path in paths)
            Assert.Equal(200, (await page.GotoAsync(path))!.Status);
        await page.GotoAsync($"/admin/accounts/{tenantId}");
        Assert.Contains(tenantEmail, await page.ContentAsync());
        Assert.Equal(302, (await PostTierAsync("premium")).Status);
        Assert.Equal(Tier.Premium, await TierAsync(tenantId));

        // Revoked: shut again at the very next request, while the session itself goes on (it is still a customer's).
        var revoked = await OperatorTool.RunAsync(app, "operator", "revoke", "--email", customerEmail);
        Assert.True(revoked.ExitCode == 0, revoked.ToString());
        await AssertShutAsync(setTier: "free");
        Assert.EndsWith("/dashboard/database", page.Url);
        Assert.Equal(Tier.Admin, await TierAsync(customerId)); // the right went, the tier (its limits) stays

        async Task AssertShutAsync(string setTier)
        {
            var before = await TierAsync(tenantId);
            await page.GotoAsync("/dashboard/database");
            Assert.EndsWith("/dashboard/database", page.Url); // still signed in
            Assert.Equal(0, await page.Locator("nav a[href='/admin']").CountAsync());
            foreach (var path in paths)
            {
                var response = await page.GotoAsync(path);
                Assert.Equal(404, response!.Status);
                Assert.DoesNotContain(tenantEmail, await page.ContentAsync());
            }
            // A forged post with the user's own cookie and a valid antiforgery token changes nothing.
            Assert.Equal(404, (await PostTierAsync(setTier)).Status);
            Assert.Equal(before, await TierAsync(tenantId));
            await page.GotoAsync("/dashboard/database");
        }

        async Task<IAPIResponse> PostTierAsync(string tier)
        {
            await page.GotoAsync("/dashboard/database/api-keys");
            var token = await page.Locator("input[name=__RequestVerificationToken]").First.GetAttributeAsync("value");
            return await page.APIRequest.PostAsync($"/admin/accounts/{tenantId}?handler=Tier",
                new() { Form = page.APIRequest.CreateFormData().Append("tier", tier).Append("__RequestVerificationToken", token!), MaxRedirects = 0 });
        }

        Task<Tier> TierAsync(string accountId) => app.WithDbAsync(d => d.Accounts.Where(a => a.Id == accountId).Select(a => a.Tier).SingleAsync());
    }

    [Fact]
    public async Task The_admin_area_shows_the_services_refusal_and_changes_nothing()
    {
        await using var app = new HepDbApp(engines);
        var baseUrl = app.StartRealServer();
        var (tenantId, _) = await DashboardAccounts.CreateAsync(app, Tier.Free);
        var (_, operatorEmail) = await DashboardAccounts.CreateOperatorAsync(app);
        var admin = await SignedInPageAsync(browser, baseUrl, operatorEmail);
        await admin.GotoAsync($"/admin/accounts/{tenantId}");

        // What a script or an old form could send past the browser's own checks: the page passes it on, and shows the
        // catalog message the service answers with.
        await admin.Locator("#reason").EvaluateAsync("e => e.removeAttribute('required')");
        await admin.Locator("#reason").FillAsync("   ");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Suspend account" }).ClickAsync();
        Assert.Equal(HepDb.Api.ApiErrors.SuspensionNeedsReason.Message, await ErrorAsync(admin));

        await admin.Locator("#tier").EvaluateAsync("s => { s.options[s.selectedIndex].value = 'gold'; }");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Set tier" }).ClickAsync();
        Assert.Equal(HepDb.Api.ApiErrors.InvalidTier("gold").Message, await ErrorAsync(admin));

        var account = await app.WithDbAsync(d => d.Accounts.SingleAsync(a => a.Id == tenantId));
        Assert.Null(account.SuspendedAt);
        Assert.Equal(Tier.Free, account.Tier);
        Assert.Equal(0, await app.WithDbAsync(d => d.AuditLog.CountAsync(a => a.AccountId == tenantId && (a.Action == "account.suspended" || a.Action == "account.tier_changed"))));
    }

    [Fact]
    public async Task An_operator_suspends_and_lifts_an_account_changes_its_tier_and_packs_and_switches_engines()
    {
        await using var app = new HepDbApp(engines);
        var baseUrl = app.StartRealServer();
        var (tenantId, tenantEmail) = await DashboardAccounts.CreateAsync(app, Tier.Free);
        var (_, operatorEmail) = await DashboardAccounts.CreateOperatorAsync(app);
        var key = await app.MintKeyAsync(tenantId, "tenant-ci");
        var tenantApi = app.ApiClient(key);
        var database = await app.CreateDatabaseAsync(new TestAccount(tenantId, key, tenantApi), "mariadb");
        Assert.True((await Clients.MariaDbAsync(database.ConnectionString, "SELECT 1")).Ok);

        var admin = await browser.NewPageAsync(baseUrl);
        await SignInAsync(admin, operatorEmail);
        await admin.WaitForURLAsync("**/dashboard/database");
        await admin.Locator("nav a[href='/admin']").ClickAsync();

        // Search finds the tenant by part of the email.
        await admin.Locator("#q").FillAsync(tenantEmail[..20]);
        await admin.GetByRole(AriaRole.Button, new() { Name = "Search" }).ClickAsync();
        Assert.Equal(1, await admin.Locator("#accounts tbody tr").CountAsync());
        await ShotAsync(admin, "10-admin-accounts");
        await admin.Locator("#accounts a", new() { HasTextString = tenantEmail }).ClickAsync();

        // Suspend with a reason: the key stops, the tenant's login is refused; the tenant sees the banner.
        await admin.Locator("#reason").FillAsync("abuse report #42");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Suspend account" }).ClickAsync();
        Assert.Contains("Suspended", await NoticeAsync(admin));
        Assert.Contains("abuse report #42", await admin.Locator("#account-state").TextContentAsync());
        await ShotAsync(admin, "11-admin-account-suspended");
        await ApiAssert.ErrorAsync(await tenantApi.GetAsync("/api/v1/db/databases"), 401, "KEY_DISABLED");
        Assert.False((await Clients.MariaDbAsync(database.ConnectionString, "SELECT 1")).Ok);

        var tenant = await browser.NewPageAsync(baseUrl);
        await SignInAsync(tenant, tenantEmail);
        await tenant.WaitForURLAsync("**/dashboard/database");
        Assert.Contains("abuse report #42", await tenant.Locator("#suspended-banner").TextContentAsync());
        Assert.True(await tenant.GetByRole(AriaRole.Button, new() { Name = "Create database" }).IsDisabledAsync());
        Assert.Contains("disabled", await tenant.Locator(".status").First.TextContentAsync());
        await ShotAsync(tenant, "12-dashboard-suspended");
        await tenant.GotoAsync("/dashboard/database/api-keys");
        Assert.True(await tenant.GetByRole(AriaRole.Button, new() { Name = "Create key" }).IsDisabledAsync());

        // Lift: the same key and the same password work again.
        await admin.Locator("#lift-reason").FillAsync("appeal #42 accepted");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Lift suspension" }).ClickAsync();
        Assert.Contains("Suspension lifted", await NoticeAsync(admin));
        await ApiAssert.OkAsync(await tenantApi.GetAsync("/api/v1/db/databases"));
        var back = await Clients.MariaDbAsync(database.ConnectionString, "SELECT 1");
        Assert.True(back.Ok, back.ToString());
        await tenant.GotoAsync("/dashboard/database");
        Assert.Equal(0, await tenant.Locator("#suspended-banner").CountAsync());

        // Reset the tenant's password: shown once to the operator, the tenant's session ends, the new password signs in.
        await admin.Locator("#users summary", new() { HasTextString = "Reset password" }).ClickAsync();
        await admin.GetByRole(AriaRole.Button, new() { Name = "Reset password" }).ClickAsync();
        var temporary = (await admin.Locator("#temporary-password").TextContentAsync())!.Trim();
        app.Remember(temporary);
        await tenant.GotoAsync("/dashboard/database");
        Assert.Contains("/sign-in", tenant.Url);
        await SignInAsync(tenant, tenantEmail, temporary);
        await tenant.WaitForURLAsync("**/dashboard/database");

        // Tier and pack: the tenant's Top Up tab follows.
        await admin.Locator("#tier").SelectOptionAsync("premium");
        await admin.GetByRole(AriaRole.Button, new() { Name = "Set tier" }).ClickAsync();
        Assert.Equal("premium", (await admin.Locator("#account-tier").TextContentAsync())!.Trim());
        await admin.GetByRole(AriaRole.Button, new() { Name = "Grant pack" }).ClickAsync();
        Assert.Contains("Granted db-pack", await NoticeAsync(admin));
        await tenant.GotoAsync("/dashboard/database/top-up");
        Assert.Contains("Premium", await tenant.Locator("#plan").TextContentAsync());
        Assert.Contains("db-pack", await tenant.Locator("#active-packs").TextContentAsync());
        Assert.Contains("1 of 3 used", await tenant.Locator("#effective-limits").TextContentAsync());
        await ShotAsync(tenant, "13-top-up-with-pack");

        // Engines: switching PostgreSQL off refuses new databases there with ENGINE_DISABLED; on again, it works.
        await admin.GotoAsync("/admin/engines");
        Assert.Contains("up", await admin.Locator("#engine-mariadb").TextContentAsync());
        await admin.Locator("#engine-postgres").GetByRole(AriaRole.Button, new() { Name = "Disable" }).ClickAsync();
        Assert.Contains("switched off", await admin.Locator("#engine-postgres .availability").TextContentAsync());
        await ShotAsync(admin, "14-admin-engines");
        var refused = await tenantApi.PostAsync("/api/v1/db/databases", Json(new { name = "pg", engine = "postgres" }));
        await ApiAssert.ErrorAsync(refused, 400, "ENGINE_DISABLED");
        await tenant.GotoAsync("/dashboard/database");
        Assert.Equal(["mariadb"], await tenant.Locator("#create-engine option").EvaluateAllAsync<string[]>("os => os.map(o => o.value)"));
        Assert.Contains("PostgreSQL is not offered: new databases are paused", await tenant.Locator("main").TextContentAsync());
        await admin.Locator("#engine-postgres").GetByRole(AriaRole.Button, new() { Name = "Enable" }).ClickAsync();
        var created = await tenantApi.PostAsync("/api/v1/db/databases", Json(new { name = "pg", engine = "postgres" }));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        app.Remember(CreatedDatabase.Parse(await created.Content.ReadAsStringAsync()).Password);

        // The audit log, filtered to the tenant, names every operator action; the tenant sees the same entries.
        await admin.GotoAsync($"/admin/audit?account={Uri.EscapeDataString(tenantEmail)}");
        var audit = await admin.Locator("table.audit").TextContentAsync();
        foreach (var action in new[] { "account.suspended", "account.unsuspended", "account.tier_changed", "pack.granted", "database.created", "key.minted" })
            Assert.Contains(action, audit);
        Assert.Contains("appeal #42 accepted", audit); // the lift's reason
        Assert.DoesNotContain("engine.disabled", audit); // not this account's
        Assert.Contains($"operator {operatorEmail}", audit); // who, by name: the operator's email, the key's label
        Assert.Contains($"key \"tenant-ci\" {key[..13]}…", audit);
        await ShotAsync(admin, "15-admin-audit");
        await admin.GotoAsync("/admin/audit?action=engine.");
        Assert.Contains("engine.disabled", await admin.Locator("table.audit").TextContentAsync());
        await tenant.GotoAsync("/dashboard/database/activity");
        Assert.Contains("account.suspended", await tenant.Locator("table.audit").TextContentAsync());
    }

    private static StringContent Json(object body) =>
        new(System.Text.Json.JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");
}
